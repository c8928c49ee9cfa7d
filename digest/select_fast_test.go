package digest_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
)

// picked is what a selection shows and counts, for comparing two.
type picked struct {
	Blocks                      []string
	More                        []int64
	Counts                      map[string]int
	ExpiredTotal, ExpiringTotal int
}

func pickedOf(sel digest.Selection) picked {
	p := picked{Counts: map[string]int{}, ExpiredTotal: sel.ExpiredTotal, ExpiringTotal: sel.ExpiringTotal}
	for r, n := range sel.LeftOutCounts() {
		if n > 0 {
			p.Counts[r] = n
		}
	}
	for _, b := range sel.Blocks {
		var ids []string
		for _, st := range b.Stories {
			ids = append(ids, fmt.Sprint(st.ID))
		}
		p.Blocks = append(p.Blocks, fmt.Sprintf("%s cut %d: %s", b.Section.Name, b.Cut, strings.Join(ids, " ")))
	}
	for _, st := range sel.More {
		p.More = append(p.More, st.ID)
	}
	return p
}

// TestFastSelectionMatchesGeneral: a list that does not rank by clicks
// takes the indexed path (leads per section, counts in SQL, lists capped
// at MaxLeftOutListed: the waiting, the hidden, the too old); with no clicks stored, the same list ranking by
// clicks takes the general query and must pick the same leads and More
// headlines and count the same left-out stories, and every story the
// indexed path lists as left out the general one leaves out for the same
// reason. The store has more hidden, too old and waiting stories than the
// cap, pinned ones old and young, a headlines-only section, a section the
// list does not show, and yesterday's edition.
func TestFastSelectionMatchesGeneral(t *testing.T) {
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	e := newEnv(t, now.AddDate(0, 0, -1))
	e.exec(t, `INSERT INTO sections (name, display_order, max_stories, created_at) VALUES ('world', 1, 2, 0), ('briefs', 2, 0, 0), ('sport', 3, 3, 0), ('weather', 4, 3, 0)`)
	for i := range 400 {
		sec := []string{"world", "briefs", "sport", "weather"}[i%4]
		at := now.Add(-time.Duration(i*15) * time.Minute) // back 100 hours
		stored := at
		if i%9 == 0 {
			stored = at.Add(5 * time.Hour) // arrived late
		}
		if stored.After(now) {
			stored = now
		}
		e.addStored(t, sec, fmt.Sprintf("Story %d", i), at, stored)
	}
	e.exec(t, `UPDATE stories SET score = (id * 7) % 13, hidden = (id % 5 = 0), pinned = (id % 23 = 0)`)
	e.exec(t, `UPDATE stories SET score = 5 WHERE id % 31 = 0`) // ties broken by recency and id
	e.clock.Set(now.AddDate(0, 0, -1))
	e.build(t, e.list) // yesterday's edition takes some of them
	e.clock.Set(now)
	list := e.list
	list.Sections = []string{"world", "briefs", "sport"}
	fast, err := e.eds.Select(e.ctx, list, "")
	if err != nil {
		t.Fatal(err)
	}
	list.RankByClicks = true
	general, err := e.eds.Select(e.ctx, list, "")
	if err != nil {
		t.Fatal(err)
	}
	if f, g := pickedOf(fast), pickedOf(general); !reflect.DeepEqual(f, g) {
		t.Fatalf("indexed path:\n%+v\ngeneral query:\n%+v", f, g)
	}
	reason := map[int64]string{}
	for _, l := range general.LeftOut {
		reason[l.Story.ID] = l.Reason
	}
	listed := map[string]int{}
	for _, l := range fast.LeftOut {
		listed[l.Reason]++
		if reason[l.Story.ID] != l.Reason {
			t.Errorf("story %d %q listed as %s, the general query says %q", l.Story.ID, l.Story.Title, l.Reason, reason[l.Story.ID])
		}
	}
	counts := fast.LeftOutCounts()
	waiting, waitingListed := counts[digest.ReasonSectionFull]+counts[digest.ReasonMoreFull], listed[digest.ReasonSectionFull]+listed[digest.ReasonMoreFull]
	if want := min(waiting, digest.MaxLeftOutListed); waitingListed != want {
		t.Errorf("waiting (section full, More headlines full): listed %d of %d, want %d", waitingListed, waiting, want)
	}
	for _, r := range []string{digest.ReasonHidden, digest.ReasonTooOld} {
		if want := min(counts[r], digest.MaxLeftOutListed); listed[r] != want {
			t.Errorf("%s: listed %d of %d, want %d", r, listed[r], counts[r], want)
		}
	}
	if counts[digest.ReasonTooOld] <= digest.MaxLeftOutListed || counts[digest.ReasonHidden] == 0 || fast.ExpiringTotal == 0 {
		t.Fatalf("counts %v, %d expiring: the store must hold more too-old stories than the cap, hidden ones and expiring ones", counts, fast.ExpiringTotal)
	}
	var report []string
	for _, l := range fast.LeftOutReport() {
		report = append(report, l.Text)
	}
	text := strings.Join(report, "\n")
	more := fmt.Sprintf("… and %d more expired unsent", fast.ExpiredTotal-digest.MaxLeftOutListed)
	if !strings.Contains(text, more) {
		t.Errorf("report does not say %q:\n%s", more, text)
	}
}
