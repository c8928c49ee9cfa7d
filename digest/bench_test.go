package digest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// BenchmarkSelectCompose1M selects and composes today's edition from a
// store of 1,000,000 stories published over 90 days in 30 sections, with
// an edition (40 stories each) on every one of the 89 days before: the
// target is under 50 ms per edition. The documented command (README,
// Performance) is
//
//	go test ./digest -run '^$' -bench SelectCompose1M
//
// DIGEST_BENCH_STORIES changes the count. The store is built with SQL
// (a recursive CTE), which takes a few seconds.
func BenchmarkSelectCompose1M(b *testing.B) {
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_STORIES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "digest.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	list, err := (&subscribers.Store{DB: db}).GetList(ctx, subscribers.DefaultList)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	fillArchive(b, db, list.ID, n, now)
	db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	var size int64
	if info, err := os.Stat(db.Path); err == nil {
		size = info.Size()
	}
	fmt.Printf("built a store of %d stories and 89 editions in %s: %.0f MB, %.0f bytes per story\n", n, time.Since(start).Round(time.Millisecond), float64(size)/(1<<20), float64(size)/float64(n))
	eds := &digest.Editions{DB: db, Now: func() time.Time { return now }}
	c := digest.Composer{BaseURL: "https://news.example.com"}
	date := now.Format(digest.DateLayout)
	var selecting time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		sel, err := eds.Select(ctx, list, date)
		if err != nil {
			b.Fatal(err)
		}
		selecting += time.Since(t0)
		if sel.Empty() {
			b.Fatal("nothing selected")
		}
		if _, err := c.Compose(sel); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(b.Elapsed()), "ms/edition")
	b.ReportMetric(ms(selecting), "ms/select")
	fmt.Printf("select + compose with %d stories (%d in the day's window): %.1f ms per edition, of which select %.1f ms (target < 50 ms)\n",
		n, n/90, ms(b.Elapsed()), ms(selecting))
}

// fillArchive stores n stories spread evenly over the 90 days before now
// in 30 sections, and an edition of 40 stories on each of the 89 days
// before today.
func fillArchive(b *testing.B, db *store.DB, listID int64, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	end := now.Unix()
	span := int64(90 * 24 * 3600)
	for _, q := range []string{
		`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 30)
		 INSERT INTO sections (name, display_order, max_stories, created_at) SELECT 'Section ' || x, x, 3, 0 FROM i`,
		fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
		 INSERT INTO stories (section_id, title, url, teaser, published_at, score, created_at, updated_at)
		 SELECT (SELECT id FROM sections WHERE display_order = 1 + x %% 30), 'Story ' || x || ' about something that matters',
		   'https://news.example.com/story/' || x, 'A teaser of some length that says what the story is about.',
		   %d - (x * %d / %d), x %% 97, 0, 0 FROM i`, n, end, span, n),
		fmt.Sprintf(`WITH RECURSIVE d(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM d WHERE x < 89)
		 INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		 SELECT %d, date(%d - x * 86400, 'unixepoch'), %d - (x + 1) * 86400, %d - x * 86400, 'Edition', '', '', 0 FROM d`, listID, end, end, end),
		`INSERT INTO edition_stories (edition_id, story_id, position, kind)
		 SELECT e.id, s.id, ROW_NUMBER() OVER (PARTITION BY e.id ORDER BY s.score DESC), 'lead'
		 FROM editions e JOIN stories s ON s.published_at > e.window_start AND s.published_at <= e.window_end AND s.id % 250 = 0`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
}
