package feeds

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"time"

	"github.com/newsroom/digest/internal/canon"
)

// Canonical returns the form of an http(s) URL that identifies an
// article: the host lower-cased, the default port, the fragment and
// tracking parameters removed, an empty path made "/". The rule lives in
// internal/canon, shared with the push API and the CLI.
func Canonical(raw string) (string, error) { return canon.Canonical(raw) }

func canonicalURL(u *url.URL) string { return canon.URL(u) }

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
