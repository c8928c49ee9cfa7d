package digest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newsroom/digest/store"
)

// TestEligibleQueryUsesIndexes checks the plan of the eligibility query
// on a store with a long history: stories are reached through the index
// on their availability time and the partial index of pinned stories,
// never by scanning the whole table.
func TestEligibleQueryUsesIndexes(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO sections (name, created_at) VALUES ('world', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO stories (section_id, title, url, published_at, created_at, updated_at)
		SELECT 1, 't' || i, 'https://example.com/' || i, i * 600, i * 600, i * 600 FROM n`); err != nil {
		t.Fatal(err)
	}
	// A year of editions, ten stories each.
	if _, err := db.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 365)
		INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		SELECT 1, date(i * 86400, 'unixepoch'), 0, 0, 's', '', '', 0 FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO edition_stories (edition_id, story_id, position, kind)
		SELECT e.id, s.id, s.id % 10, 'lead' FROM editions e JOIN stories s ON s.id BETWEEN e.id * 10 AND e.id * 10 + 9`); err != nil {
		t.Fatal(err)
	}
	// Without statistics (a store nobody ran ANALYZE on) and with them.
	checkPlan(t, db, "before ANALYZE")
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, db, "after ANALYZE")
}

func checkPlan(t *testing.T, db *store.DB, when string) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+eligibleQuery, 2990000, 3000000, false, 1, "2026-11-28", false)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	all := strings.Join(plan, "\n")
	for _, want := range []string{"stories_available", "stories_pinned", "edition_stories_story"} {
		if !strings.Contains(all, want) {
			t.Errorf("%s: plan does not use %s:\n%s", when, want, all)
		}
	}
	for _, p := range plan {
		if strings.HasPrefix(p, "SCAN s") {
			t.Errorf("%s: plan scans the stories table: %q\n%s", when, p, all)
		}
	}
}
