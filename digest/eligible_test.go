package digest_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// addStored stores a story published at published, at the clock time
// stored (a feed polled late, a CMS that back-dates).
func (e *env) addStored(t *testing.T, section, title string, published, stored time.Time) int64 {
	t.Helper()
	now := e.clock.Now()
	e.clock.Set(stored)
	defer e.clock.Set(now)
	st := stories.Story{Section: section, Title: title, URL: "https://news.example.com/" + strings.ReplaceAll(title, " ", "-") + fmt.Sprint("-", published.Unix()),
		Teaser: "Teaser of " + title, PublishedAt: published}
	if err := e.stories.Add(e.ctx, &st); err != nil {
		t.Fatal(err)
	}
	return st.ID
}

// build builds (and stores) the list's edition at the clock's time and
// returns the titles it shows and the selection.
func (e *env) build(t *testing.T, list subscribers.List) ([]string, *digest.Selection) {
	t.Helper()
	ed, sel, err := e.eds.BuildReport(e.ctx, digest.Composer{}, list, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if sel == nil {
		t.Fatalf("edition %d of %s was stored already", ed.ID, list.Name)
	}
	b, m := titles(*sel)
	return append(b, m...), sel
}

func leftOutTitles(ls []digest.LeftOut) map[string]string {
	out := map[string]string{}
	for _, l := range ls {
		out[l.Story.Title] = l.Reason
	}
	return out
}

// TestEligibility is the rule of issue 10 case by case: what a first
// edition leaves out comes in the next one, a late arrival is taken, the
// max age ends a story's wait (reported before and after), a pinned story
// comes whatever its age, a headlines-only section is included, and
// lists with different filters each get their share.
func TestEligibility(t *testing.T) {
	day1 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	day3 := day2.AddDate(0, 0, 1)

	t.Run("leftovers of a full More headlines come in the next edition", func(t *testing.T) {
		e := newEnv(t, day1)
		e.exec(t, `INSERT INTO sections (name, display_order, max_stories, created_at) VALUES ('Briefs', 1, 0, 0)`)
		for i := range 12 {
			e.add(t, "Briefs", fmt.Sprintf("Brief %02d", i), time.Duration(i+1)*time.Hour, 0)
		}
		got, sel := e.build(t, e.list)
		if len(got) != 8 {
			t.Fatalf("first edition shows %d, want 8 (the More headlines cap)", len(got))
		}
		want := map[string]string{"Brief 00": digest.ReasonMoreFull, "Brief 01": digest.ReasonMoreFull, "Brief 02": digest.ReasonMoreFull, "Brief 03": digest.ReasonMoreFull}
		if lo := leftOutTitles(sel.LeftOut); !reflect.DeepEqual(lo, want) {
			t.Errorf("left out %v, want the 4 newest (the oldest go first) %v", lo, want)
		}
		if got, want := sel.LeftOutSummary(), "left out 4 stories: 4 More headlines full"; got != want {
			t.Errorf("summary %q, want %q", got, want)
		}
		e.clock.Set(day2)
		got, _ = e.build(t, e.list)
		sort.Strings(got)
		if want := []string{"Briefs: Brief 00", "Briefs: Brief 01", "Briefs: Brief 02", "Briefs: Brief 03"}; !reflect.DeepEqual(got, want) {
			t.Errorf("second edition shows %q, want the leftovers %q", got, want)
		}
	})

	t.Run("a section's overflow past More headlines waits as section full", func(t *testing.T) {
		e := newEnv(t, day1)
		for i := range 12 {
			e.add(t, "World", fmt.Sprintf("W%02d", i), time.Duration(i+1)*time.Minute, float64(20-i))
		}
		got, sel := e.build(t, e.list)
		if len(got) != 3+8 || len(sel.LeftOut) != 1 || sel.LeftOut[0].Reason != digest.ReasonSectionFull {
			t.Fatalf("shows %d, left out %+v; want 11 and one section full", len(got), sel.LeftOut)
		}
		e.clock.Set(day2)
		if got, _ := e.build(t, e.list); len(got) != 1 || got[0] != "World: "+sel.LeftOut[0].Story.Title {
			t.Errorf("next edition %q, want the story left out", got)
		}
	})

	t.Run("a late arrival published inside the previous window is taken", func(t *testing.T) {
		e := newEnv(t, day1)
		e.add(t, "World", "On time", time.Hour, 0)
		e.build(t, e.list)
		// Published ten minutes before that edition, stored ten after.
		e.addStored(t, "World", "Late", day1.Add(-10*time.Minute), day1.Add(10*time.Minute))
		e.clock.Set(day2)
		if got, _ := e.build(t, e.list); !reflect.DeepEqual(got, []string{"World: Late"}) {
			t.Errorf("next edition %q, want the late arrival", got)
		}
	})

	t.Run("a story stored long after its back-dated publication counts from storing", func(t *testing.T) {
		e := newEnv(t, day2)
		e.addStored(t, "World", "Back-dated", day1.AddDate(0, 0, -5), day2.Add(-time.Hour))
		if got, _ := e.build(t, e.list); !reflect.DeepEqual(got, []string{"World: Back-dated"}) {
			t.Errorf("got %q, want the back-dated story (stored an hour ago)", got)
		}
	})

	t.Run("max age: reported as expiring, then as too old", func(t *testing.T) {
		e := newEnv(t, day1)
		e.exec(t, `UPDATE lists SET max_age = ? WHERE name = 'daily'`, int64(25*time.Hour/time.Second))
		e.list.MaxAge = subscribers.Duration(25 * time.Hour)
		e.MoreHeadlines(1)
		for i := range 5 {
			e.add(t, "World", fmt.Sprintf("S%d", i), time.Duration(i+1)*time.Hour, float64(10-i))
		}
		// The section shows S0-S2, More takes the oldest leftover (S4):
		// S3 is left out, 4 hours old; with 25 hours of max age it is gone
		// before tomorrow's 6:00 edition.
		_, sel := e.build(t, e.list)
		exp := sel.Expiring()
		if len(exp) != 1 || exp[0].Story.Title != "S3" {
			t.Fatalf("expiring %+v, want S3", exp)
		}
		if want := day1.Add(-4 * time.Hour).Add(25 * time.Hour); !exp[0].Expires.Equal(want) {
			t.Errorf("S3 expires %v, want %v", exp[0].Expires, want)
		}
		e.clock.Set(day2)
		got, sel := e.build(t, e.list)
		if len(got) != 0 {
			t.Errorf("next edition shows %q, want nothing (S3 is too old)", got)
		}
		if lo := leftOutTitles(sel.Expired()); !reflect.DeepEqual(lo, map[string]string{"S3": digest.ReasonTooOld}) {
			t.Errorf("expired %v, want S3 too old", lo)
		}
		// Reported once: by the edition after, it is no news.
		e.clock.Set(day3)
		if _, sel := e.build(t, e.list); len(sel.Expired()) != 0 {
			t.Errorf("expired reported again: %+v", sel.Expired())
		}
	})

	t.Run("a story pinned after its window comes whatever its age, once", func(t *testing.T) {
		e := newEnv(t, day1)
		old := e.add(t, "World", "Old scoop", 10*24*time.Hour, 0)
		e.add(t, "World", "Today", time.Hour, 0)
		if got, _ := e.build(t, e.list); !reflect.DeepEqual(got, []string{"World: Today"}) {
			t.Fatalf("got %q", got)
		}
		if _, err := e.stories.SetPinned(e.ctx, old, true); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(day2)
		if got, _ := e.build(t, e.list); !reflect.DeepEqual(got, []string{"World: Old scoop"}) {
			t.Errorf("after pinning got %q, want the pinned story", got)
		}
		e.clock.Set(day3)
		if got, _ := e.build(t, e.list); len(got) != 0 {
			t.Errorf("pinned story sent twice: %q", got)
		}
	})

	t.Run("hidden stories are reported, not shown", func(t *testing.T) {
		e := newEnv(t, day1)
		id := e.add(t, "World", "Spiked", time.Hour, 0)
		e.exec(t, `UPDATE stories SET hidden = 1 WHERE id = ?`, id)
		got, sel := e.build(t, e.list)
		if len(got) != 0 || !reflect.DeepEqual(leftOutTitles(sel.LeftOut), map[string]string{"Spiked": digest.ReasonHidden}) {
			t.Errorf("got %q, left out %+v", got, sel.LeftOut)
		}
	})

	t.Run("lists with different filters each take a story once", func(t *testing.T) {
		e := newEnv(t, day1)
		subs := &subscribers.Store{DB: e.db, Now: e.clock.Now}
		world, err := subs.CreateList(e.ctx, subscribers.List{Name: "world", From: "w@news.example.com", Sections: []string{"World"}})
		if err != nil {
			t.Fatal(err)
		}
		sport, err := subs.CreateList(e.ctx, subscribers.List{Name: "sport", From: "s@news.example.com", Sections: []string{"Sport"}})
		if err != nil {
			t.Fatal(err)
		}
		e.add(t, "World", "Summit", time.Hour, 0)
		e.add(t, "Sport", "Final", time.Hour, 0)
		for _, tc := range []struct {
			list subscribers.List
			want []string
		}{{e.list, []string{"World: Summit", "Sport: Final"}}, {world, []string{"World: Summit"}}, {sport, []string{"Sport: Final"}}} {
			if got, _ := e.build(t, tc.list); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("list %s: %q, want %q", tc.list.Name, got, tc.want)
			}
		}
		e.clock.Set(day2)
		for _, l := range []subscribers.List{e.list, world, sport} {
			if got, _ := e.build(t, l); len(got) != 0 {
				t.Errorf("list %s sent again: %q", l.Name, got)
			}
		}
	})
}

// MoreHeadlines sets the "More headlines" cap of the env's editions.
func (e *env) MoreHeadlines(n int) { e.eds.MoreHeadlines = n }

// TestSimulatedWeek runs a week of daily editions of three lists with
// different section filters over more stories than one edition holds
// (bursts, late arrivals, a headlines-only section, hidden stories, a
// story pinned days after it was published) and checks that every story
// that was visible and young enough appeared in exactly one edition of
// each list that shows its section, and in no other list's.
func TestSimulatedWeek(t *testing.T) {
	start := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	e := newEnv(t, start.Add(-72*time.Hour))
	subs := &subscribers.Store{DB: e.db, Now: e.clock.Now}
	sections := []struct {
		name string
		max  int
	}{{"world", 2}, {"business", 1}, {"sport", 2}, {"weather", 0}, {"tech", 1}}
	for i, s := range sections {
		e.exec(t, `INSERT INTO sections (name, display_order, max_stories, created_at) VALUES (?, ?, ?, 0)`, s.name, i+1, s.max)
	}
	lists := []subscribers.List{e.list}
	for _, l := range []subscribers.List{
		{Name: "world-business", From: "wb@news.example.com", Sections: []string{"world", "business"}},
		{Name: "sport-weather", From: "sw@news.example.com", Sections: []string{"sport", "weather"}},
	} {
		created, err := subs.CreateList(e.ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, created)
	}
	shows := func(l subscribers.List, section string) bool {
		if len(l.Sections) == 0 {
			return true
		}
		for _, s := range l.Sections {
			if s == section {
				return true
			}
		}
		return false
	}
	type story struct {
		id              int64
		section         string
		stored          time.Time
		hidden, pinned  bool
		editions        map[string][]string // list -> dates
		reportedExpired bool
	}
	var all []*story
	// A story from long before the week, pinned on day 3.
	oldID := e.addStored(t, "world", "Old pinned", start.AddDate(0, 0, -6), start.AddDate(0, 0, -6))
	old := &story{id: oldID, section: "world", stored: start.AddDate(0, 0, 3).Add(-time.Hour), pinned: true, editions: map[string][]string{}}
	all = append(all, old)

	perDay := []int{8, 22, 5, 6, 19, 4, 3}
	n := 0
	for day, count := range perDay {
		edition := start.AddDate(0, 0, day)
		for i := range count {
			n++
			sec := sections[n%len(sections)].name
			published := edition.Add(-time.Duration(23*60*(i+1)/(count+1)) * time.Minute)
			stored := published
			if n%7 == 0 { // published before the edition, stored after it
				published, stored = edition.Add(-5*time.Minute), edition.Add(20*time.Minute)
			}
			id := e.addStored(t, sec, fmt.Sprintf("Story %d", n), published, stored)
			st := &story{id: id, section: sec, stored: stored, editions: map[string][]string{}}
			if n%11 == 0 {
				e.exec(t, `UPDATE stories SET hidden = 1 WHERE id = ?`, id)
				st.hidden = true
			}
			all = append(all, st)
		}
	}
	byID := map[int64]*story{}
	for _, st := range all {
		byID[st.id] = st
	}
	last := start.AddDate(0, 0, len(perDay))
	carried := 0 // stories an edition left for a later one
	for day := 0; day <= len(perDay); day++ {
		at := start.AddDate(0, 0, day)
		if day == 3 {
			e.clock.Set(old.stored)
			if _, err := e.stories.SetPinned(e.ctx, old.id, true); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Set(at)
		for _, l := range lists {
			ed, sel, err := e.eds.BuildReport(e.ctx, digest.Composer{}, l, "", true)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ed.StoryIDs {
				st := byID[id]
				st.editions[l.Name] = append(st.editions[l.Name], ed.Date)
				if !shows(l, st.section) || st.hidden {
					t.Errorf("list %s on %s shows story %d (section %s, hidden %v)", l.Name, ed.Date, id, st.section, st.hidden)
				}
			}
			carried += len(sel.LeftOut) - len(sel.Expired())
			for _, lo := range sel.Expired() {
				byID[lo.Story.ID].reportedExpired = true
				t.Errorf("list %s on %s: story %d %q expired unsent (the week has room for every story)", l.Name, ed.Date, lo.Story.ID, lo.Story.Title)
			}
		}
	}
	sent := 0
	for _, st := range all {
		for _, l := range lists {
			got := st.editions[l.Name]
			want := 1
			if st.hidden || !shows(l, st.section) || !st.stored.Before(last) {
				want = 0
			}
			if len(got) != want {
				t.Errorf("story %d (section %s, stored %s, hidden %v) in %d editions of %s (%v), want %d",
					st.id, st.section, st.stored.Format(time.DateTime), st.hidden, len(got), l.Name, got, want)
			}
			sent += len(got)
		}
	}
	if sent == 0 || carried == 0 {
		t.Fatalf("sent %d, carried over %d: the week must have more stories than single editions hold", sent, carried)
	}
}

// BenchmarkSelectLongHistory measures one selection on a store with a
// year of history: 50,000 stories (one every ten minutes), 365 editions
// of ten stories each, 200 stories young enough to be eligible.
//
//	go test ./digest -run '^$' -bench SelectLongHistory
func BenchmarkSelectLongHistory(b *testing.B) {
	now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	e := newEnv(b, now)
	first := now.Add(-50000 * 10 * time.Minute).Unix()
	if _, err := e.db.ExecContext(e.ctx, `INSERT INTO sections (name, display_order, max_stories, created_at) VALUES ('world', 1, 3, 0), ('sport', 2, 3, 0)`); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.ExecContext(e.ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
		INSERT INTO stories (section_id, title, url, published_at, created_at, updated_at)
		SELECT (SELECT id FROM sections WHERE name = CASE i % 2 WHEN 0 THEN 'world' ELSE 'sport' END),
		       't' || i, 'https://example.com/' || i, ? + i * 600, ? + i * 600, 0 FROM n`, first, first); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.ExecContext(e.ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 365)
		INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		SELECT 1, date(? - i * 86400, 'unixepoch'), ? - i * 86400 - 86400, ? - i * 86400, 's', '', '', 0 FROM n`, now.Unix(), now.Unix(), now.Unix()); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.ExecContext(e.ctx, `
		INSERT INTO edition_stories (edition_id, story_id, position, kind)
		SELECT e.id, s.id, s.id % 10, 'lead' FROM editions e JOIN stories s ON s.id BETWEEN 40000 + e.id * 10 AND 40000 + e.id * 10 + 9`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		sel, err := e.eds.Select(e.ctx, e.list, "2026-11-28")
		if err != nil || sel.Empty() {
			b.Fatal(err, sel.Empty())
		}
	}
}
