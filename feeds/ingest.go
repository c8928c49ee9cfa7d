package feeds

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/newsroom/digest/stories"
)

// Counts is what storing a document did with its items.
type Counts struct {
	New       int `json:"new"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	// Problems says why each skipped item was skipped, with its position.
	Problems []string `json:"problems,omitempty"`
}

func (c *Counts) skip(pos int, format string, args ...any) {
	c.Skipped++
	c.Problems = append(c.Problems, fmt.Sprintf("item %d: ", pos)+fmt.Sprintf(format, args...))
}

// prepared is an item checked and identified, ready to store.
type prepared struct {
	item   Item
	story  stories.Story
	canon  string
	key    string
	digest string
	known  *knownItem
}

type knownItem struct {
	storyID int64
	digest  string
}

// knownItems loads the identities a feed has stored, so that a document
// is matched against them with one query.
func knownItems(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, feedID int64) (map[string]*knownItem, error) {
	rows, err := db.QueryContext(ctx, `SELECT item_key, story_id, digest FROM feed_items WHERE feed_id = ?`, feedID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*knownItem{}
	for rows.Next() {
		var key string
		k := &knownItem{}
		if err := rows.Scan(&key, &k.storyID, &k.digest); err != nil {
			return nil, err
		}
		out[key] = k
	}
	return out, rows.Err()
}

// prepare checks every item and gives each its identity and story:
//
//   - An item needs a title and an http(s) link; others are skipped and
//     reported with their position, the rest are stored.
//   - A repeated item (same GUID, or same link, title and date) is
//     skipped as a duplicate.
//   - The key is the GUID when the feed gives one, else the canonical
//     link, else a hash of title and date. When several items of the
//     document share one link (a feed that points every item at its home
//     page), the link identifies none of them: they are keyed by GUID or
//     hash, and each story's URL gets the item's own fragment (or one
//     made from its key) so the stories stay apart.
func prepare(f *Feed, doc *Document, now time.Time, known map[string]*knownItem, c *Counts) []*prepared {
	var out []*prepared
	seen := map[string]bool{}
	for _, it := range doc.Items {
		if it.Title == "" {
			c.skip(it.Position, "no title: every story needs a headline")
			continue
		}
		if it.Link == "" {
			c.skip(it.Position, "%q has no link", cut(it.Title))
			continue
		}
		u, err := url.Parse(it.Link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.skip(it.Position, "link %q is not an http(s) URL", cut(it.Link))
			continue
		}
		if !isHTTP(it.Image) {
			it.Image = "" // a data: or javascript: image never reaches a message
		}
		p := &prepared{item: it, canon: canonicalURL(u)}
		ident := "guid:" + it.GUID
		if it.GUID == "" {
			ident = p.canon + "\x00" + hashKey(it.Title, it.Published)
		}
		if seen[ident] {
			c.skip(it.Position, "%q repeats an earlier item", cut(it.Title))
			continue
		}
		seen[ident] = true
		out = append(out, p)
	}
	links := map[string]int{}
	fragments := map[string]int{}
	for _, p := range out {
		links[p.canon]++
		if u, _ := url.Parse(p.item.Link); u != nil && u.Fragment != "" {
			fragments[p.canon+"#"+u.Fragment]++
		}
	}
	kept := out[:0]
	for _, p := range out {
		it := p.item
		shared := links[p.canon] > 1
		switch {
		case it.GUID != "":
			p.key = guidKey(it.GUID)
		case !shared:
			p.key = urlKey(p.canon)
		default:
			p.key = hashKey(it.Title, it.Published)
		}
		storyURL := p.canon
		if shared {
			frag := ""
			if u, _ := url.Parse(it.Link); u != nil && u.Fragment != "" && fragments[p.canon+"#"+u.Fragment] == 1 {
				frag = u.EscapedFragment()
			} else {
				frag = "item-" + shortHash(p.key)[:12]
			}
			storyURL += "#" + frag
		}
		published := it.Published
		if published.IsZero() {
			published = now // first seen; an update keeps the stored time
		}
		p.story = stories.Story{Section: f.SectionFor(it.Categories), Title: it.Title, URL: storyURL,
			Teaser: it.Teaser, PublishedAt: published}
		if err := stories.Normalize(&p.story); err != nil {
			c.skip(it.Position, "%v", err)
			continue
		}
		p.digest = shortHash(strings.Join([]string{p.story.Section, p.story.Title, p.story.URL, p.story.Teaser,
			it.Image, it.Published.Format(time.RFC3339)}, "\x00"))
		p.known = known[p.key]
		kept = append(kept, p)
	}
	return kept
}

func isHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func cut(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "..."
	}
	return s
}

// store writes the prepared items in one transaction.
func (s *Store) store(ctx context.Context, f *Feed, items []*prepared, c *Counts) error {
	now := s.now()
	return s.DB.InTx(ctx, func(tx *sql.Tx) error {
		link, err := tx.PrepareContext(ctx, `INSERT INTO feed_items (feed_id, item_key, story_id, digest, enriched, first_seen_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (feed_id, item_key) DO UPDATE SET story_id = excluded.story_id, digest = excluded.digest`)
		if err != nil {
			return err
		}
		defer link.Close()
		for _, p := range items {
			keepTime := p.item.Published.IsZero()
			if p.known != nil {
				if p.known.digest == p.digest {
					c.Unchanged++
					continue
				}
				changed, err := stories.Update(ctx, tx, p.known.storyID, &p.story, p.item.Image, keepTime, now)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE feed_items SET digest = ? WHERE feed_id = ? AND item_key = ?`, p.digest, f.ID, p.key); err != nil {
					return err
				}
				count(c, changed)
				continue
			}
			id, found, own, err := s.findStory(ctx, tx, f, p)
			if err != nil {
				return err
			}
			if found {
				// The same article: from another feed, the CMS, or this
				// feed under an earlier key (a GUID that changed).
				var changed bool
				if own > 0 {
					changed, err = stories.Update(ctx, tx, id, &p.story, p.item.Image, keepTime, now)
				} else {
					changed, err = stories.Fill(ctx, tx, id, p.story.Teaser, p.item.Image, now)
				}
				if err != nil {
					return err
				}
				count(c, changed)
			} else {
				if err := stories.Insert(ctx, tx, &p.story, p.item.Image, now); err != nil {
					return err
				}
				id = p.story.ID
				c.New++
			}
			if _, err := link.ExecContext(ctx, f.ID, p.key, id, p.digest, f.Enrich, now.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
}

// findStory finds the stored story a new item of feed f is, by URL, and
// counts how many of f's items already point at it. A feed that reuses
// one link for every item but carries only its latest (an alerts feed)
// shows no shared link within a document; so when the story at the URL
// is this feed's under another GUID, and title and time both differ, the
// item is a new article and gets a URL of its own (the fragment a
// document with the link shared would give it). Same title or same time
// is the same article under a GUID that changed.
func (s *Store) findStory(ctx context.Context, tx *sql.Tx, f *Feed, p *prepared) (id int64, found bool, own int, err error) {
	id, found, err = stories.FindURL(ctx, tx, p.story.URL)
	if err != nil || !found {
		return id, found, 0, err
	}
	var otherGUIDs int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(item_key LIKE 'guid:%' AND item_key <> ?), 0)
		FROM feed_items WHERE feed_id = ? AND story_id = ?`, p.key, f.ID, id).Scan(&own, &otherGUIDs); err != nil {
		return 0, false, 0, err
	}
	if p.item.GUID == "" || otherGUIDs == 0 || strings.Contains(p.story.URL, "#") {
		return id, found, own, nil
	}
	title, published, err := stories.Headline(ctx, tx, id)
	if err != nil || title == p.story.Title || published.Equal(p.story.PublishedAt) {
		return id, found, own, err
	}
	p.story.URL += "#item-" + shortHash(p.key)[:12]
	id, found, err = stories.FindURL(ctx, tx, p.story.URL)
	return id, found, 0, err
}

func count(c *Counts, changed bool) {
	if changed {
		c.Updated++
	} else {
		c.Unchanged++
	}
}

// Ingest stores a parsed document's items as stories for feed f and
// says what it did. Bad items are skipped and reported; the good ones are
// stored together, in one transaction.
func (s *Store) Ingest(ctx context.Context, f *Feed, doc *Document) (Counts, error) {
	return s.ingest(ctx, f, doc, nil)
}

// ingest is Ingest with enrichment of the new items between the checks
// and the transaction (network waits stay outside it).
func (s *Store) ingest(ctx context.Context, f *Feed, doc *Document, enrich func(context.Context, *Feed, []*prepared)) (Counts, error) {
	var c Counts
	known, err := knownItems(ctx, s.DB, f.ID)
	if err != nil {
		return c, err
	}
	items := prepare(f, doc, s.now(), known, &c)
	if doc.Unread > 0 {
		c.Skipped += doc.Unread
		c.Problems = append(c.Problems, fmt.Sprintf("item %d: the feed's XML breaks here: %d item(s) after it could not be read (the publisher must fix the feed)",
			len(doc.Items), doc.Unread))
	}
	if enrich != nil && f.Enrich {
		enrich(ctx, f, items)
	}
	if err := s.store(ctx, f, items, &c); err != nil {
		return Counts{Skipped: c.Skipped, Problems: c.Problems}, err
	}
	return c, nil
}
