// Package feeds brings stories in by themselves: it polls RSS, Atom and
// JSON feeds and Google News sitemaps with conditional GETs on an adaptive
// schedule, turns their items into stories (one story per article however
// many feeds carry it, editors' edits kept), and optionally enriches
// items from the article page. It owns the feeds and feed_items tables.
package feeds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/store"
)

// Kinds of feed.
const (
	KindRSS     = "rss" // RSS, Atom or JSON Feed, told apart by content
	KindSitemap = "sitemap"
)

// DefaultSection is where an item goes when the feed names no section
// and its categories map to none (a "*=section" entry in the category map
// changes it per feed).
const DefaultSection = "news"

// Feed is one polled source.
type Feed struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	URL     string `json:"url"`
	Kind    string `json:"type"`
	Section string `json:"section"`
	// CategoryMap maps item categories (case-insensitive) to sections.
	CategoryMap  CategoryMap   `json:"category_map,omitempty"`
	Every        time.Duration `json:"-"`
	Enrich       bool          `json:"enrich"`
	AllowPrivate bool          `json:"allow_private"`

	ETag         string    `json:"-"`
	LastModified string    `json:"-"`
	LastFetch    time.Time `json:"last_fetch"`
	LastStatus   int       `json:"last_status"`
	NextFetch    time.Time `json:"next_fetch"`
	Errors       int       `json:"errors_in_row"`
	LastError    string    `json:"last_error"`
	// Items is how many stories the feed has given.
	Items int `json:"items_stored"`
}

// CategoryMap maps lower-cased category names to section names; the key
// "*" holds the feed's default section.
type CategoryMap map[string]string

// ParseCategoryMap reads "Politics=americas,Tech=technology".
func ParseCategoryMap(s string) (CategoryMap, error) {
	m := CategoryMap{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		cat, sec, ok := strings.Cut(pair, "=")
		cat, sec = oneline.String(cat), oneline.String(sec)
		if !ok || cat == "" || sec == "" {
			return nil, fmt.Errorf("category map entry %q is not CATEGORY=SECTION (like Politics=americas)", strings.TrimSpace(pair))
		}
		m[strings.ToLower(cat)] = sec
	}
	return m, nil
}

// String writes the map back in the form ParseCategoryMap reads, sorted.
func (m CategoryMap) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// SectionFor picks an item's section: the feed's --section, else the
// first of the item's categories the map knows, else the map's "*"
// entry, else DefaultSection.
func (f *Feed) SectionFor(categories []string) string {
	if f.Section != "" {
		return f.Section
	}
	for _, c := range categories {
		if sec, ok := f.CategoryMap[strings.ToLower(oneline.String(c))]; ok {
			return sec
		}
	}
	if sec, ok := f.CategoryMap["*"]; ok {
		return sec
	}
	return DefaultSection
}

// Store reads and writes feeds.
type Store struct {
	DB *store.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Store) now() time.Time { return clock.Now(s.Now) }

// ErrNotFound reports an unknown feed id.
var ErrNotFound = errors.New("no such feed")

// ErrDuplicate reports a feed URL that is already added.
var ErrDuplicate = errors.New("feed already added")

// Check validates a feed's settings before it is stored.
func (f *Feed) Check() error {
	u, err := CheckURL(f.URL)
	if err != nil {
		return err
	}
	f.URL = u.String()
	f.Name, f.Section = oneline.String(f.Name), oneline.String(f.Section)
	if f.Kind == "" {
		f.Kind = KindRSS
	}
	if f.Kind != KindRSS && f.Kind != KindSitemap {
		return fmt.Errorf("feed type %q is not rss or sitemap (rss covers RSS, Atom and JSON Feed)", f.Kind)
	}
	if f.Every != 0 && (f.Every < MinInterval || f.Every > MaxInterval) {
		return fmt.Errorf("--every %s is outside %s..%s: leave it out for the adaptive schedule", f.Every, MinInterval, MaxInterval)
	}
	return nil
}

// Add stores a new feed, due for its first fetch at once.
func (s *Store) Add(ctx context.Context, f *Feed) error {
	if err := f.Check(); err != nil {
		return err
	}
	now := s.now().Unix()
	err := s.DB.QueryRowContext(ctx, `INSERT INTO feeds (url, name, kind, section, category_map, every, enrich, allow_private, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING RETURNING id`,
		f.URL, f.Name, f.Kind, f.Section, f.CategoryMap.String(), int64(f.Every/time.Second), f.Enrich, f.AllowPrivate, now, now).Scan(&f.ID)
	if errors.Is(err, sql.ErrNoRows) {
		var id int64
		s.DB.QueryRowContext(ctx, `SELECT id FROM feeds WHERE url = ?`, f.URL).Scan(&id)
		return fmt.Errorf("%s is feed %d (%w): change it with digest feeds update %d", f.URL, id, ErrDuplicate, id)
	}
	return err
}

// Change holds the settings to change; nil fields stay.
type Change struct {
	URL          *string
	Name         *string
	Kind         *string
	Section      *string
	CategoryMap  *CategoryMap
	Every        *time.Duration
	Enrich       *bool
	AllowPrivate *bool
}

// Update changes a feed's settings and returns it. A new URL or type
// forgets the validators and makes the feed due at once.
func (s *Store) Update(ctx context.Context, id int64, ch Change) (Feed, error) {
	var out Feed
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		f, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		old := f
		if ch.URL != nil {
			f.URL = *ch.URL
		}
		if ch.Name != nil {
			f.Name = *ch.Name
		}
		if ch.Kind != nil {
			f.Kind = *ch.Kind
		}
		if ch.Section != nil {
			f.Section = *ch.Section
		}
		if ch.CategoryMap != nil {
			f.CategoryMap = *ch.CategoryMap
		}
		if ch.Every != nil {
			f.Every = *ch.Every
		}
		if ch.Enrich != nil {
			f.Enrich = *ch.Enrich
		}
		if ch.AllowPrivate != nil {
			f.AllowPrivate = *ch.AllowPrivate
		}
		if err := f.Check(); err != nil {
			return err
		}
		if f.URL != old.URL || f.Kind != old.Kind {
			f.ETag, f.LastModified, f.NextFetch = "", "", time.Unix(0, 0)
		}
		var other int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM feeds WHERE url = ? AND id <> ?`, f.URL, id).Scan(&other); err == nil {
			return fmt.Errorf("%s is feed %d already (%w)", f.URL, other, ErrDuplicate)
		}
		_, err = tx.ExecContext(ctx, `UPDATE feeds SET url = ?, name = ?, kind = ?, section = ?, category_map = ?, every = ?,
			enrich = ?, allow_private = ?, etag = ?, last_modified = ?, next_fetch_at = ?, updated_at = ? WHERE id = ?`,
			f.URL, f.Name, f.Kind, f.Section, f.CategoryMap.String(), int64(f.Every/time.Second), f.Enrich, f.AllowPrivate,
			f.ETag, f.LastModified, f.NextFetch.Unix(), s.now().Unix(), id)
		out = f
		return err
	})
	return out, err
}

// Remove deletes a feed and its item identities; the stories it brought
// stay.
func (s *Store) Remove(ctx context.Context, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM feeds WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(id)
	}
	return nil
}

func notFound(id int64) error {
	return fmt.Errorf("feed %d: %w (see digest feeds list)", id, ErrNotFound)
}

const feedColumns = `f.id, f.url, f.name, f.kind, f.section, f.category_map, f.every, f.enrich, f.allow_private,
	f.etag, f.last_modified, f.last_fetch_at, f.last_status, f.next_fetch_at, f.errors, f.last_error,
	(SELECT COUNT(DISTINCT story_id) FROM feed_items i WHERE i.feed_id = f.id)`

func scanFeed(sc interface{ Scan(...any) error }) (Feed, error) {
	var f Feed
	var cm string
	var every, last, next int64
	err := sc.Scan(&f.ID, &f.URL, &f.Name, &f.Kind, &f.Section, &cm, &every, &f.Enrich, &f.AllowPrivate,
		&f.ETag, &f.LastModified, &last, &f.LastStatus, &next, &f.Errors, &f.LastError, &f.Items)
	if err != nil {
		return f, err
	}
	f.CategoryMap, _ = ParseCategoryMap(cm)
	f.Every = time.Duration(every) * time.Second
	if last > 0 {
		f.LastFetch = time.Unix(last, 0).UTC()
	}
	f.NextFetch = time.Unix(next, 0).UTC()
	return f, nil
}

func get(ctx context.Context, q store.Querier, id int64) (Feed, error) {
	f, err := scanFeed(q.QueryRowContext(ctx, `SELECT `+feedColumns+` FROM feeds f WHERE f.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound(id)
	}
	return f, err
}

// Get returns one feed.
func (s *Store) Get(ctx context.Context, id int64) (Feed, error) { return get(ctx, s.DB, id) }

// List returns every feed in the order they were added.
func (s *Store) List(ctx context.Context) ([]Feed, error) {
	return s.query(ctx, `SELECT `+feedColumns+` FROM feeds f ORDER BY f.id`)
}

// Due returns the feeds whose next fetch time has come, soonest first.
func (s *Store) Due(ctx context.Context, now time.Time) ([]Feed, error) {
	return s.query(ctx, `SELECT `+feedColumns+` FROM feeds f WHERE f.next_fetch_at <= ? ORDER BY f.next_fetch_at, f.id`, now.Unix())
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Feed, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Feed
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// NextDue returns the earliest next fetch time of any feed (zero when
// there are none), so the poller can sleep until then.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := s.DB.QueryRowContext(ctx, `SELECT MIN(next_fetch_at) FROM feeds`).Scan(&next); err != nil || !next.Valid {
		return time.Time{}, err
	}
	return time.Unix(next.Int64, 0), nil
}

// claim takes a due feed for this process: it moves the next fetch time
// forward by hold, and fails when another process already did, so two
// serve processes on one database do not poll a feed twice.
func (s *Store) claim(ctx context.Context, f Feed, hold time.Duration) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE feeds SET next_fetch_at = ? WHERE id = ? AND next_fetch_at = ?`,
		s.now().Add(hold).Unix(), f.ID, f.NextFetch.Unix())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
