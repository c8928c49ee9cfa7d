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
	checkFastPlans(t, db, "before ANALYZE")
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	checkPlan(t, db, "after ANALYZE")
	checkFastPlans(t, db, "after ANALYZE")
}

// checkFastPlans: each query of selectFast walks the index its comment
// names and none scans the stories table or walks stories_rank where it
// would read every story of the sections.
func checkFastPlans(t *testing.T, db *store.DB, when string) {
	t.Helper()
	for _, q := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"leads", leadsQuery, []any{1, 2990000, 3000000, 1, "2026-11-28", 3}, []string{"INDEX stories_rank (section_id=?)"}},
		{"counts", countsQuery, []any{2990000, 3000000, 2900000, 3000000, 1, "2026-11-28"}, []string{"COVERING INDEX stories_available", "stories_pinned"}},
		{"pinned leftovers", leftoverQuery(true, 2, 3), []any{3000000, 1, "2026-11-28", 1, 2, 7, 8, 9, 10}, []string{"stories_pinned"}},
		{"leftovers", leftoverQuery(false, 2, 3), []any{2990000, 3000000, 1, "2026-11-28", 1, 2, 7, 8, 9, 10}, []string{"stories_available"}},
		{"hidden", listedQuery(true, 2), []any{2990000, 3000000, 3000000, 1, "2026-11-28", 1, 2, 50}, []string{"stories_available"}},
		{"too old", listedQuery(false, 2), []any{2900000, 2990000, 3000000, 1, "2026-11-28", 1, 2, 50}, []string{"stories_available"}},
	} {
		plan := explain(t, db, q.query, q.args...)
		all := strings.Join(plan, "\n")
		for _, want := range q.want {
			if !strings.Contains(all, want) {
				t.Errorf("%s: %s plan does not use %s:\n%s", when, q.name, want, all)
			}
		}
		for _, p := range plan {
			if strings.HasPrefix(p, "SCAN s") || (q.name != "leads" && strings.Contains(p, "stories_rank")) {
				t.Errorf("%s: %s plan reads the whole table: %q\n%s", when, q.name, p, all)
			}
		}
	}
}

// explain is the query plan of q, one detail a line.
func explain(t *testing.T, db *store.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args...)
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
	return plan
}

func checkPlan(t *testing.T, db *store.DB, when string) {
	t.Helper()
	plan := explain(t, db, eligibleQuery, 2990000, 3000000, false, 1, "2026-11-28", false)
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
