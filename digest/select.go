// Package digest makes editions: it selects the top stories per section
// for a list and a date, composes the edition once through the hermes
// theme, stores it, and personalises the stored edition per recipient.
package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/schedule"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// DateLayout is the form of an edition's date (the list's local date):
// the schedule's, since a fire's local date names the edition it sends.
const DateLayout = schedule.DateLayout

// FirstWindow is how far back the first edition of a list looks.
const FirstWindow = 24 * time.Hour

// MaxExpiredReport is how far back before the max age an edition looks
// for stories that expired unsent since the previous edition.
const MaxExpiredReport = 7 * 24 * time.Hour

// DefaultMoreHeadlines is how many headlines the "More headlines" block
// lists at most.
const DefaultMoreHeadlines = 8

// Block is one section of an edition with its chosen stories.
type Block struct {
	Section stories.Section
	Stories []stories.Story
	// Cut counts the eligible stories left out of the block because the
	// section was at its maximum (they may still appear under "More
	// headlines"; if not, they stay eligible for the next edition).
	Cut int
}

// Selection is what an edition of a list for a date would contain.
type Selection struct {
	List        subscribers.List
	Date        string
	WindowStart time.Time
	WindowEnd   time.Time
	Blocks      []Block
	More        []stories.Story
	// MaxAge is the list's maximum story age the selection used.
	MaxAge time.Duration
	// NextEdition is when the list's schedule fires next after the
	// window's end: what LeftOut stories must survive to be sent.
	NextEdition time.Time
	// LeftOut are the stories the edition could have shown and did not,
	// with the reason; the section-full and More-full ones stay
	// eligible for the next edition.
	LeftOut []LeftOut
	// LeftOutTotals counts every story left out by reason, ExpiredTotal
	// and ExpiringTotal the ones Expired and Expiring would list without
	// the cap: LeftOut lists at most MaxLeftOutListed of each kind.
	LeftOutTotals               map[string]int
	ExpiredTotal, ExpiringTotal int
	// Images are pictures of lead stories by story ID that override the
	// stored one (stories.Story.Image, which Select fills in from an
	// import's image field): a caller that has a better one (a feed, a
	// test) sets them before Compose. The theme shows each above its
	// story's headline, with the headline as its alt text.
	Images map[int64]Image
}

// Image is a story's picture. The theme sizes it to the column (its
// height follows from its proportions), so only its address is needed.
type Image struct {
	URL string
}

// Empty reports whether no section has a story.
func (s Selection) Empty() bool { return len(s.Blocks) == 0 && len(s.More) == 0 }

// Lead is the first story of the first section, the edition's headline.
func (s Selection) Lead() (stories.Story, bool) {
	if len(s.Blocks) > 0 {
		return s.Blocks[0].Stories[0], true
	}
	if len(s.More) > 0 {
		return s.More[0], true
	}
	return stories.Story{}, false
}

// Editions selects, composes, stores and loads editions.
type Editions struct {
	DB *store.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MoreHeadlines caps the "More headlines" block; 0 means the default.
	MoreHeadlines int

	// week makes selectFor pick a weekly edition: the 7 days to the
	// date's window end, stories sent in daily editions included.
	week bool
}

func (e *Editions) now() time.Time { return clock.Now(e.Now) }

// ParseDate checks an edition date (YYYY-MM-DD). An empty date is today
// in the list's time zone.
func (e *Editions) ParseDate(list subscribers.List, date string) (string, time.Time, error) {
	loc := list.Location()
	if date == "" {
		date = e.now().In(loc).Format(DateLayout)
	}
	day, err := time.ParseInLocation(DateLayout, date, loc)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD (like 2026-11-28)", date)
	}
	if day.After(e.now()) {
		return "", time.Time{}, fmt.Errorf("date %s is in the future for list %s (%s): pick today or an earlier date", date, list.Name, loc)
	}
	return date, day, nil
}

// Window returns the stretch of publication times an edition for date
// covers: from the end of the list's previous edition (or 24 hours back
// for the first) to now, or to the end of that day for a past date.
func (e *Editions) Window(ctx context.Context, list subscribers.List, date string) (time.Time, time.Time, error) {
	date, day, err := e.ParseDate(list, date)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return e.window(ctx, list, date, day)
}

// window is Window for a date already checked (or, for Next, a date
// after today).
func (e *Editions) window(ctx context.Context, list subscribers.List, date string, day time.Time) (time.Time, time.Time, error) {
	end := day.AddDate(0, 0, 1)
	if now := e.now(); now.Before(end) {
		end = now
	}
	var prevEnd int64
	err := e.DB.QueryRowContext(ctx, `SELECT window_end FROM editions WHERE list_id = ? AND date < ? ORDER BY date DESC LIMIT 1`,
		list.ID, date).Scan(&prevEnd)
	start := end.Add(-FirstWindow)
	switch {
	case err == nil:
		start = time.Unix(prevEnd, 0)
	case !errors.Is(err, sql.ErrNoRows):
		return time.Time{}, time.Time{}, err
	}
	return start.UTC(), end.UTC(), nil
}

// Select picks the edition's stories for the list and date. A story is
// eligible while it is visible, in a section the list shows, in no
// other edition of the list, published by the end of the window, and
// no older than the list's maximum age counted from the later of its
// publication and the time it was stored (a pinned story whatever its
// age). So a story a full section or a full "More headlines" left out,
// or one that arrived after an edition was built though published
// before it, waits for the next edition instead of being lost. Per
// section: pinned first, then score, then recency, at most the section's
// maximum; sections in display order, empty ones left out. The
// eligible stories the sections leave over fill "More headlines" (see
// pickMore). What was left out, and why, is in Selection.LeftOut.
func (e *Editions) Select(ctx context.Context, list subscribers.List, date string) (Selection, error) {
	date, day, err := e.ParseDate(list, date)
	if err != nil {
		return Selection{}, err
	}
	return e.selectFor(ctx, list, date, day)
}

// Reasons a story was left out of an edition (LeftOut.Reason).
const (
	// ReasonSectionFull: its section was at its maximum and "More
	// headlines" was full too. It stays eligible for the next edition.
	ReasonSectionFull = "section full"
	// ReasonMoreFull: its section shows headlines only (maximum 0) and
	// "More headlines" was full. It stays eligible for the next edition.
	ReasonMoreFull = "More headlines full"
	// ReasonHidden: an editor hid it.
	ReasonHidden = "hidden"
	// ReasonTooOld: it passed the list's maximum age since the previous
	// edition without ever being in one.
	ReasonTooOld = "too old"
)

// LeftOut is a story an edition could have shown and did not.
type LeftOut struct {
	Story  stories.Story `json:"story"`
	Reason string        `json:"reason"`
	// Expires is when the story stops being eligible (zero for a pinned
	// story, which never does).
	Expires time.Time `json:"expires,omitzero"`
}

// leftOutOrder is the order reasons are reported in.
var leftOutOrder = []string{ReasonSectionFull, ReasonMoreFull, ReasonHidden, ReasonTooOld}

// LeftOutCounts counts the stories left out by reason: all of them,
// though Selection.LeftOut may list fewer (MaxLeftOutListed).
func (s Selection) LeftOutCounts() map[string]int {
	if s.LeftOutTotals != nil {
		return s.LeftOutTotals
	}
	out := map[string]int{}
	for _, l := range s.LeftOut {
		out[l.Reason]++
	}
	return out
}

// LeftOutSummary is "left out 5 stories: 3 section full, 2 too old", or
// "" when nothing was left out.
func (s Selection) LeftOutSummary() string {
	counts := s.LeftOutCounts()
	var parts []string
	total := 0
	for _, r := range leftOutOrder {
		if n := counts[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
			total += n
		}
	}
	if total == 0 {
		return ""
	}
	unit := "stories"
	if total == 1 {
		unit = "story"
	}
	return fmt.Sprintf("left out %d %s: %s", total, unit, strings.Join(parts, ", "))
}

// MaxLeftOutListed is how many stories Selection.LeftOut lists at most
// of each kind, the most urgent first: the waiting ones (section full and
// More headlines full together, soonest to expire first), the hidden and
// the too old; the counts cover them all. It applies to lists that do
// not rank by clicks (the indexed path); the general query lists all. A
// store of a million stories may leave tens of thousands out of an
// edition, and no editor reads a report that long.
const MaxLeftOutListed = 50

// countLeftOut sets the totals from a LeftOut that lists everything.
func (s *Selection) countLeftOut() {
	s.LeftOutTotals = map[string]int{}
	for _, l := range s.LeftOut {
		s.LeftOutTotals[l.Reason]++
	}
	s.ExpiredTotal = len(s.Expired())
	s.ExpiringTotal = len(s.Expiring())
}

// LeftOutReport is what send, preview and editions rebuild say about
// the stories left out: the counts by reason, each story that expired
// unsent since the previous edition, and each one that will expire
// before the next edition unless an editor acts.
func (s Selection) LeftOutReport() []ReportLine {
	var out []ReportLine
	add := func(kind, format string, args ...any) {
		out = append(out, ReportLine{Kind: kind, Text: fmt.Sprintf(format, args...)})
	}
	if sum := s.LeftOutSummary(); sum != "" {
		add("left-out", "%s (section full and More headlines full wait for the next edition)", sum)
	}
	expired := s.Expired()
	for _, l := range expired {
		add("expired", "expired unsent: story %d %q (%s) passed the list's max age of %s without being in an edition",
			l.Story.ID, l.Story.Title, l.Story.Section, formatAge(s.MaxAge))
	}
	if n := s.ExpiredTotal - len(expired); n > 0 {
		add("expired", "… and %d more expired unsent", n)
	}
	expiring := s.Expiring()
	for _, l := range expiring {
		add("expiring", "will expire unsent: story %d %q (%s, %s) is too old by the next edition (%s): pin it with digest stories pin %d, or raise the section's --max",
			l.Story.ID, l.Story.Title, l.Story.Section, l.Reason, s.NextEdition.Format("2006-01-02 15:04 MST"), l.Story.ID)
	}
	if n := s.ExpiringTotal - len(expiring); n > 0 {
		add("expiring", "… and %d more will expire unsent", n)
	}
	return out
}

// ReportLine is one line of LeftOutReport; Kind is left-out, expired or
// expiring.
type ReportLine struct {
	Kind, Text string
}

// Expiring are the stories left out now (section or More headlines
// full) that will be too old by the next scheduled edition: unless an
// editor acts (pins one, raises a section's maximum), they are never
// sent.
func (s Selection) Expiring() []LeftOut {
	var out []LeftOut
	for _, l := range s.LeftOut {
		if (l.Reason == ReasonSectionFull || l.Reason == ReasonMoreFull) && !l.Expires.IsZero() && !l.Expires.After(s.NextEdition) {
			out = append(out, l)
		}
	}
	return out
}

// Expired are the stories that became too old since the previous
// edition without ever being sent.
func (s Selection) Expired() []LeftOut {
	var out []LeftOut
	for _, l := range s.LeftOut {
		if l.Reason == ReasonTooOld {
			out = append(out, l)
		}
	}
	return out
}

// eligibleQuery reads the stories an edition of a list may take: by the
// later of publication and storing (index stories_available) or pinned
// (index stories_pinned), in no other edition of the list (index
// edition_stories_story; a weekly edition, whose readers got no daily
// ones, skips that check), with their sections in display order, ranked
// by score (plus the capped click-rate term when the list ranks by
// clicks). The
// unary + keeps the planner off the published_at index (without ANALYZE
// statistics it would walk every story ever stored), and CROSS JOIN makes
// the edition check start from the story (SQLite keeps a CROSS JOIN's
// order) instead of walking every edition of the list for each story.
const eligibleQuery = `
		SELECT c.id, c.name, c.title, c.display_order, c.max_stories,
		       s.id, s.title, s.url, s.teaser, s.published_at, s.score, s.pinned, s.hidden, s.image, s.byline,
		       max(s.published_at, s.created_at)
		FROM stories s JOIN sections c ON c.id = s.section_id
		WHERE (max(s.published_at, s.created_at) > ? OR s.pinned = 1)
		  AND +s.published_at <= ?
		  AND (? OR NOT EXISTS (
			SELECT 1 FROM edition_stories es CROSS JOIN editions ed ON ed.id = es.edition_id
			WHERE es.story_id = s.id AND ed.list_id = ? AND ed.date <> ?))
		ORDER BY c.display_order, c.id, s.pinned DESC, s.score + ` + clickRateSQL + ` DESC, s.published_at DESC, s.id DESC`

// candidate is an eligible story on its way into the edition.
type candidate struct {
	st      stories.Story
	avail   time.Time // the later of published and stored
	fromMax bool      // its section has a maximum above 0
	secID   int64     // its section (selectFast's counts)
}

// waiting is the LeftOut of a story the sections and More headlines left
// over: it waits for the next edition (a pinned one never expires).
func (c candidate) waiting(maxAge time.Duration) LeftOut {
	l := LeftOut{Story: c.st, Reason: ReasonMoreFull}
	if c.fromMax {
		l.Reason = ReasonSectionFull
	}
	if !c.st.Pinned {
		l.Expires = c.avail.Add(maxAge)
	}
	return l
}

// selectFor is Select for a date already checked (or, for Next, a date
// after today).
func (e *Editions) selectFor(ctx context.Context, list subscribers.List, date string, day time.Time) (Selection, error) {
	start, end, err := e.window(ctx, list, date, day)
	if err != nil {
		return Selection{}, err
	}
	maxAge := list.MaxAgeOrDefault()
	if e.week {
		// The week's top stories: whatever became available in the 7
		// days to the window's end, sent in daily editions or not.
		maxAge = Week
	}
	sel := Selection{List: list, Date: date, WindowStart: start, WindowEnd: end, MaxAge: maxAge}
	sel.NextEdition = end.Add(FirstWindow)
	if next, ok := list.NextRun(end); ok {
		sel.NextEdition = next.UTC()
	}
	if !list.RankByClicks && !e.week {
		return e.selectFast(ctx, sel)
	}
	// Young enough: available after end-maxAge. The query reaches back to
	// start-maxAge too, to report what expired since the last edition,
	// but at most a week: a list dormant for months has no use for a
	// report of everything it missed.
	young := end.Add(-maxAge)
	report := start.Add(-maxAge)
	if floor := young.Add(-MaxExpiredReport); report.Before(floor) {
		report = floor
	}
	if e.week {
		report = young // a weekly edition reports nothing as expired
	}
	rows, err := e.DB.QueryContext(ctx, eligibleQuery,
		report.Unix(), end.Unix(), e.week, list.ID, date, list.RankByClicks)
	if err != nil {
		return sel, fmt.Errorf("select stories: %w", err)
	}
	defer rows.Close()
	allowed := map[string]bool{}
	for _, name := range list.Sections {
		allowed[strings.ToLower(name)] = true
	}
	var leftover []candidate
	for rows.Next() {
		var sec stories.Section
		var st stories.Story
		var published, avail int64
		if err := rows.Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories,
			&st.ID, &st.Title, &st.URL, &st.Teaser, &published, &st.Score, &st.Pinned, &st.Hidden, &st.Image, &st.Byline, &avail); err != nil {
			return sel, err
		}
		if len(allowed) > 0 && !allowed[strings.ToLower(sec.Name)] {
			continue
		}
		st.Section = sec.DisplayName()
		st.PublishedAt = time.Unix(published, 0).UTC()
		c := candidate{st: st, avail: time.Unix(avail, 0).UTC(), fromMax: sec.MaxStories > 0}
		isYoung := c.avail.After(young)
		switch {
		case st.Hidden:
			if isYoung {
				sel.LeftOut = append(sel.LeftOut, LeftOut{Story: st, Reason: ReasonHidden, Expires: c.avail.Add(maxAge)})
			}
			continue
		case !st.Pinned && !isYoung:
			sel.LeftOut = append(sel.LeftOut, LeftOut{Story: st, Reason: ReasonTooOld, Expires: c.avail.Add(maxAge)})
			continue
		}
		n := len(sel.Blocks)
		if n == 0 || sel.Blocks[n-1].Section.ID != sec.ID {
			sel.Blocks = append(sel.Blocks, Block{Section: sec})
			n++
		}
		b := &sel.Blocks[n-1]
		if len(b.Stories) < sec.MaxStories {
			b.Stories = append(b.Stories, st)
		} else {
			if sec.MaxStories > 0 {
				b.Cut++
			}
			leftover = append(leftover, c)
		}
	}
	if err := rows.Err(); err != nil {
		return sel, err
	}
	// Sections whose maximum is 0 contribute only headlines.
	blocks := sel.Blocks[:0]
	for _, b := range sel.Blocks {
		if len(b.Stories) > 0 {
			blocks = append(blocks, b)
		}
	}
	sel.Blocks = blocks
	limit := e.MoreHeadlines
	if limit == 0 {
		limit = DefaultMoreHeadlines
	}
	more, rest := pickMore(leftover, limit)
	for _, c := range more {
		sel.More = append(sel.More, c.st)
	}
	for _, c := range rest {
		sel.LeftOut = append(sel.LeftOut, c.waiting(maxAge))
	}
	sel.countLeftOut()
	return sel, nil
}

// pickMore chooses the "More headlines" among the stories the sections
// left over: pinned ones first, then those that expire soonest (a queue:
// a story waiting since yesterday goes before one that came in an hour
// ago, so a steady stream cannot starve it), at most limit. The chosen
// are shown newest first, as the front page lists its latest headlines.
func pickMore(cands []candidate, limit int) (more, rest []candidate) {
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.st.Pinned != b.st.Pinned {
			return a.st.Pinned
		}
		if !a.avail.Equal(b.avail) {
			return a.avail.Before(b.avail)
		}
		return a.st.ID < b.st.ID
	})
	if len(cands) > limit {
		more, rest = cands[:limit:limit], cands[limit:]
	} else {
		more = cands
	}
	sort.SliceStable(more, func(i, j int) bool {
		if !more[i].st.PublishedAt.Equal(more[j].st.PublishedAt) {
			return more[i].st.PublishedAt.After(more[j].st.PublishedAt)
		}
		return more[i].st.ID > more[j].st.ID
	})
	return more, rest
}
