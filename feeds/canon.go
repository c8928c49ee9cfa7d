package feeds

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/url"
	"strings"
	"time"
)

// trackingParams are query parameters that say who sent a reader, not
// which article they read: dropped from canonical URLs so that one article
// linked from a newsletter and from a feed is one story. Every utm_*
// parameter goes too.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "gclsrc": true, "dclid": true, "gbraid": true, "wbraid": true,
	"msclkid": true, "yclid": true, "twclid": true, "ttclid": true, "igshid": true, "li_fat_id": true,
	"mc_cid": true, "mc_eid": true, "_ga": true, "_gl": true, "_hsenc": true, "_hsmi": true,
	"mkt_tok": true, "oly_anon_id": true, "oly_enc_id": true, "vero_id": true, "vero_conv": true,
	"rb_clickid": true, "s_cid": true, "wickedid": true, "cmpid": true, "ocid": true, "ncid": true,
	"spm": true, "soc_src": true, "soc_trk": true, "at_medium": true, "at_campaign": true,
}

// Canonical returns the form of an http(s) URL that identifies an
// article: the host lower-cased, the default port, the fragment and
// tracking parameters removed, an empty path made "/". The order of the
// remaining parameters is kept: some sites give it meaning.
func Canonical(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	return canonicalURL(u), nil
}

func canonicalURL(u *url.URL) string {
	c := *u
	c.Scheme = strings.ToLower(c.Scheme)
	host, port := c.Hostname(), c.Port()
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if (c.Scheme == "http" && port == "80") || (c.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		c.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		c.Host = "[" + host + "]"
	} else {
		c.Host = host
	}
	c.Fragment, c.RawFragment = "", ""
	if c.Path == "" {
		c.Path, c.RawPath = "/", ""
	}
	if c.RawQuery != "" {
		var kept []string
		for _, kv := range strings.Split(c.RawQuery, "&") {
			if kv == "" {
				continue
			}
			name := kv
			if i := strings.IndexByte(kv, '='); i >= 0 {
				name = kv[:i]
			}
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			name = strings.ToLower(name)
			if trackingParams[name] || strings.HasPrefix(name, "utm_") {
				continue
			}
			kept = append(kept, kv)
		}
		c.RawQuery = strings.Join(kept, "&")
	}
	c.ForceQuery = false
	return c.String()
}

// Item identity keys, in order of preference: a GUID the feed gives, the
// canonical link, a hash of title and date. A GUID is scoped to its feed
// (two feeds may both number their items 1, 2, 3); the same article in
// two feeds meets through its canonical URL instead.
func guidKey(guid string) string { return "guid:" + guid }
func urlKey(canon string) string { return "url:" + canon }
func hashKey(title string, date time.Time) string {
	d := ""
	if !date.IsZero() {
		d = date.UTC().Format(time.RFC3339)
	}
	return "hash:" + shortHash(title+"\x00"+d)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}
