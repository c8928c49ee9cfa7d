// Package canon gives the canonical form of an article's URL, the one
// identity feeds, the push API and the CLI agree on, so that one article
// reached through a newsletter link, a feed and the CMS is one story. It
// is a leaf (standard library only): the subscriber-facing web server
// uses it without linking the feed reader.
package canon

import (
	"net"
	"net/url"
	"strings"
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
	return URL(u), nil
}

// StoryURL is the URL a story given from outside (push API, CLI) is
// stored under: Canonical, but keeping the fragment. Feeds keep a
// fragment only where it tells apart items sharing one link (live-blog
// entries); a fragment a CMS sends is there for the same reason, and
// dropping it would merge those entries into one story. Anything but an
// absolute http(s) URL (empty, relative, unparsable) is returned trimmed
// and otherwise as given, so the caller's own check refuses it in its
// own words.
func StoryURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return raw
	}
	c := URL(u)
	if u.Fragment != "" {
		c += "#" + u.EscapedFragment()
	}
	return c
}

// URL is Canonical for a parsed URL.
func URL(u *url.URL) string {
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
