// Package clicks counts clicks on story links without tracking anyone:
// with a list's click_tracking = "aggregate", story links in a message go
// through /r/{edition}/{story}/{hmac}, which redirects to the story and
// adds one to a count per edition and story. No subscriber id is in the
// link or stored; the HMAC keeps the redirect from being an open
// redirect; link scanners and HEAD requests are not counted.
package clicks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/store"
)

// macLen is how many hex digits of the HMAC a link keeps (64 bits).
const macLen = 16

// MAC is the HMAC of an edition and story link.
func MAC(key []byte, editionID, storyID int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "click:%d:%d", editionID, storyID)
	return hex.EncodeToString(m.Sum(nil))[:macLen]
}

// Verify reports whether mac is the link's HMAC, in constant time.
func Verify(key []byte, editionID, storyID int64, mac string) bool {
	return hmac.Equal([]byte(MAC(key, editionID, storyID)), []byte(mac))
}

// Link is the redirect URL of a story in an edition.
func Link(base string, key []byte, editionID, storyID int64) string {
	return strings.TrimRight(base, "/") + "/r/" + strconv.FormatInt(editionID, 10) + "/" + strconv.FormatInt(storyID, 10) + "/" + MAC(key, editionID, storyID)
}

var href = regexp.MustCompile(`href="([^"]*)"`)

// Rewrite replaces the story links of an edition's HTML and text parts
// with link(story id). urls maps each story's URL to its id; only exact
// links to those URLs change (the archive link, unsubscribe link and
// anything else stay as they are).
func Rewrite(htmlBody, textBody string, urls map[string]int64, link func(int64) string) (string, string) {
	if len(urls) == 0 {
		return htmlBody, textBody
	}
	htmlBody = href.ReplaceAllStringFunc(htmlBody, func(m string) string {
		v := html.UnescapeString(m[len(`href="`) : len(m)-1])
		id, ok := urls[v]
		if !ok {
			if u, err := url.PathUnescape(v); err == nil {
				id, ok = urls[u]
			}
		}
		if !ok {
			return m
		}
		return `href="` + html.EscapeString(link(id)) + `"`
	})
	var b strings.Builder
	for i, line := range strings.Split(textBody, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		fields := strings.Split(line, " ")
		for j, f := range fields {
			if id, ok := urls[f]; ok {
				fields[j] = link(id)
			} else if t := strings.TrimSuffix(strings.TrimPrefix(f, "("), ")"); t != f {
				if id, ok := urls[t]; ok {
					fields[j] = strings.Replace(f, t, link(id), 1)
				}
			}
		}
		b.WriteString(strings.Join(fields, " "))
	}
	return htmlBody, b.String()
}

// scanners are substrings of the user agents of link scanners and
// prefetchers that follow every link of a message before (or without)
// the reader: Microsoft Defender Safe Links, Proofpoint URL Defense,
// Mimecast, Barracuda, and the generic bots and previewers.
var scanners = []string{
	"safelinks", "safe links", "microsoft office", "ms-office", "microsoft url", "bingpreview", "skypeuripreview",
	"proofpoint", "urldefense", "mimecast", "barracuda", "bsmtp", "cisco", "ironport", "symantec", "messagelabs",
	"bot", "crawler", "spider", "preview", "scanner", "python-requests", "curl/", "wget", "go-http-client", "headless",
}

// IsScanner reports whether a request with this user agent is a link
// scanner's, not a reader's (an empty agent is taken for a scanner too).
func IsScanner(userAgent string) bool {
	ua := strings.ToLower(strings.TrimSpace(userAgent))
	if ua == "" {
		return true
	}
	for _, s := range scanners {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// ErrUnknownStory reports an edition and story pair that no edition has.
var ErrUnknownStory = digest.ErrStoryNotInEdition

// StoryURL is the URL a click on the story of the edition goes to. The
// edition's stories are digest's table: it asks digest.
func StoryURL(ctx context.Context, db *store.DB, editionID, storyID int64) (string, error) {
	return digest.StoryURL(ctx, db, editionID, storyID)
}

// Count adds one click on the story of the edition.
func Count(ctx context.Context, db *store.DB, editionID, storyID int64) error {
	return store.RetryBusy(ctx, 0, func() error {
		_, err := db.ExecContext(ctx, `INSERT INTO story_clicks (edition_id, story_id, clicks) VALUES (?, ?, 1)
			ON CONFLICT (edition_id, story_id) DO UPDATE SET clicks = clicks + 1`, editionID, storyID)
		return err
	})
}

// EditionURLs maps the URL of each story of the edition to its id, for
// Rewrite (read through digest, which owns the edition's stories).
// Ranking by click rate is selection's: see digest.ClickRateWeight.
func EditionURLs(ctx context.Context, db *store.DB, editionID int64) (map[string]int64, error) {
	return digest.EditionURLs(ctx, db, editionID)
}

// ByStory is the clicks of every story, summed over editions.
func ByStory(ctx context.Context, db *store.DB) (map[int64]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT story_id, SUM(clicks) FROM story_clicks GROUP BY story_id`)
	if err != nil {
		return nil, fmt.Errorf("read clicks: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
