package digest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/stories"
)

// notSentSQL is the eligibility check "in no other edition of the list"
// (index edition_stories_story; CROSS JOIN starts from the story).
const notSentSQL = `NOT EXISTS (
	SELECT 1 FROM edition_stories es CROSS JOIN editions ed ON ed.id = es.edition_id
	WHERE es.story_id = s.id AND ed.list_id = ? AND ed.date <> ?)`

// storyColumns are the columns scanStory reads.
const storyColumns = `s.id, s.section_id, s.title, s.url, s.teaser, s.published_at, s.score, s.pinned, s.hidden, s.image, s.byline, max(s.published_at, s.created_at)`

// leadsQuery takes one section's leads: it walks index stories_rank in
// rank order and stops at the section's maximum, so its cost follows
// the section's maximum, not the size of the archive.
const leadsQuery = `SELECT ` + storyColumns + ` FROM stories s INDEXED BY stories_rank
	WHERE s.section_id = ? AND (max(s.published_at, s.created_at) > ? OR s.pinned = 1) AND s.hidden = 0 AND s.published_at <= ?
	  AND ` + notSentSQL + `
	ORDER BY s.pinned DESC, s.score DESC, s.published_at DESC, s.id DESC LIMIT ?`

// countsQuery counts, per section, what the availability range (and
// the pinned stories before it) holds: the eligible stories, the hidden
// young ones, the ones too old and the young ones that expire by the
// next edition. The range is read from index stories_available alone
// (it covers section, hidden, pinned and publication: migration 0054),
// and the pinned stories older than the range through stories_pinned,
// in a second arm, since an OR of both would fetch every row from the
// table. The + on section_id keeps the planner off stories_rank.
const countsQuery = `SELECT id, total(e), total(h), total(o), total(x) FROM (
	SELECT s.section_id + 0 AS id,
	  s.hidden = 0 AND (max(s.published_at, s.created_at) > ?1 OR s.pinned = 1) AS e,
	  s.hidden = 1 AND max(s.published_at, s.created_at) > ?1 AS h,
	  s.hidden = 0 AND s.pinned = 0 AND max(s.published_at, s.created_at) <= ?1 AS o,
	  s.hidden = 0 AND s.pinned = 0 AND max(s.published_at, s.created_at) > ?1 AND max(s.published_at, s.created_at) <= ?2 AS x
	FROM stories s INDEXED BY stories_available
	WHERE max(s.published_at, s.created_at) > ?3 AND +s.published_at <= ?4
	  AND NOT EXISTS (SELECT 1 FROM edition_stories es CROSS JOIN editions ed ON ed.id = es.edition_id
	    WHERE es.story_id = s.id AND ed.list_id = ?5 AND ed.date <> ?6)
	UNION ALL
	SELECT s.section_id + 0, s.hidden = 0, 0, 0, 0
	FROM stories s INDEXED BY stories_pinned
	WHERE s.pinned = 1 AND max(s.published_at, s.created_at) <= ?3 AND s.published_at <= ?4
	  AND NOT EXISTS (SELECT 1 FROM edition_stories es CROSS JOIN editions ed ON ed.id = es.edition_id
	    WHERE es.story_id = s.id AND ed.list_id = ?5 AND ed.date <> ?6))
	GROUP BY id`

// inList is "expr IN (?,?,...)" for n parameters.
func inList(expr string, n int) string {
	return expr + " IN (?" + strings.Repeat(",?", n-1) + ")"
}

// leftoverQuery reads the stories the leads left over in pickMore's
// order, the pinned ones (index stories_pinned) or the young unpinned
// ones (index stories_available, in the order it is walked, so LIMIT
// stops the walk), from nSecs sections, leaving out nChosen leads. The +
// keeps the planner off stories_rank, which would walk every story of
// the sections.
func leftoverQuery(pinned bool, nSecs, nChosen int) string {
	where := `s.pinned = 0 AND max(s.published_at, s.created_at) > ?`
	if pinned {
		where = `s.pinned = 1`
	}
	notChosen := "1"
	if nChosen > 0 {
		notChosen = "NOT " + inList("s.id", nChosen)
	}
	return `SELECT ` + storyColumns + ` FROM stories s WHERE ` + where + ` AND s.hidden = 0 AND s.published_at <= ? AND ` + notSentSQL + `
		AND ` + inList("+s.section_id", nSecs) + ` AND ` + notChosen + ` ORDER BY max(s.published_at, s.created_at), s.id LIMIT ?`
}

// listedQuery reads the first stories, soonest to expire, of one
// availability range that are hidden, or (hidden false) not hidden and
// not pinned, from nSecs sections: what the report lists of them.
func listedQuery(hidden bool, nSecs int) string {
	where := `s.hidden = 0 AND s.pinned = 0`
	if hidden {
		where = `s.hidden = 1`
	}
	return `SELECT ` + storyColumns + ` FROM stories s WHERE ` + where + ` AND max(s.published_at, s.created_at) > ? AND max(s.published_at, s.created_at) <= ?
		AND s.published_at <= ? AND ` + notSentSQL + ` AND ` + inList("+s.section_id", nSecs) + ` ORDER BY max(s.published_at, s.created_at), s.id LIMIT ?`
}

// selectFast is selectFor for a daily list that does not rank by
// clicks (the click-rate term reorders stories the index cannot know,
// and a weekly edition reads a whole week: both take the general
// query). It reads no more rows than the edition shows and lists, and
// counts the rest in SQL.
func (e *Editions) selectFast(ctx context.Context, sel Selection) (Selection, error) {
	list, end, maxAge := sel.List, sel.WindowEnd, sel.MaxAge
	young := end.Add(-maxAge)
	report := sel.WindowStart.Add(-maxAge)
	if floor := young.Add(-MaxExpiredReport); report.Before(floor) {
		report = floor
	}
	expireBy := sel.NextEdition.Add(-maxAge) // available by then: too old by the next edition
	allowed := map[string]bool{}
	for _, name := range list.Sections {
		allowed[strings.ToLower(name)] = true
	}
	rows, err := e.DB.QueryContext(ctx, `SELECT id, name, title, display_order, max_stories FROM sections ORDER BY display_order, id`)
	if err != nil {
		return sel, fmt.Errorf("select stories: %w", err)
	}
	var secs []stories.Section
	for rows.Next() {
		var sec stories.Section
		if err := rows.Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories); err != nil {
			rows.Close()
			return sel, err
		}
		if len(allowed) == 0 || allowed[strings.ToLower(sec.Name)] {
			secs = append(secs, sec)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sel, err
	}
	if len(secs) == 0 {
		return sel, nil
	}
	byID := map[int64]stories.Section{}
	var secIDs []any
	for _, sec := range secs {
		byID[sec.ID] = sec
		secIDs = append(secIDs, sec.ID)
	}
	read := func(q string, args ...any) ([]candidate, error) {
		rows, err := e.DB.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("select stories: %w", err)
		}
		defer rows.Close()
		var out []candidate
		for rows.Next() {
			var st stories.Story
			var secID, published, avail int64
			if err := rows.Scan(&st.ID, &secID, &st.Title, &st.URL, &st.Teaser, &published, &st.Score, &st.Pinned, &st.Hidden, &st.Image, &st.Byline, &avail); err != nil {
				return nil, err
			}
			sec := byID[secID]
			st.Section = sec.DisplayName()
			st.PublishedAt = time.Unix(published, 0).UTC()
			out = append(out, candidate{st: st, avail: time.Unix(avail, 0).UTC(), fromMax: sec.MaxStories > 0, secID: secID})
		}
		return out, rows.Err()
	}

	// The counts per section first (one aggregate over the availability
	// range): a section with nothing eligible is skipped below, since its
	// leads query would walk the section's whole history in the rank
	// index to find nothing.
	type sectionCounts struct{ eligible, hidden, old, expiring int }
	counts := map[int64]sectionCounts{}
	crows, err := e.DB.QueryContext(ctx, countsQuery, young.Unix(), expireBy.Unix(),
		report.Unix(), end.Unix(), list.ID, sel.Date)
	if err != nil {
		return sel, fmt.Errorf("count stories: %w", err)
	}
	for crows.Next() {
		var id int64
		var elig, hid, old, exp float64
		if err := crows.Scan(&id, &elig, &hid, &old, &exp); err != nil {
			crows.Close()
			return sel, err
		}
		if _, ok := byID[id]; ok {
			counts[id] = sectionCounts{int(elig), int(hid), int(old), int(exp)}
		}
	}
	crows.Close()
	if err := crows.Err(); err != nil {
		return sel, fmt.Errorf("count stories: %w", err)
	}

	// Leads, section by section in display order.
	var leadCs []candidate
	var chosen []any
	for _, sec := range secs {
		if sec.MaxStories <= 0 || counts[sec.ID].eligible == 0 {
			continue
		}
		cs, err := read(leadsQuery, sec.ID, young.Unix(), end.Unix(), list.ID, sel.Date, sec.MaxStories)
		if err != nil {
			return sel, err
		}
		if len(cs) == 0 {
			continue
		}
		b := Block{Section: sec}
		for _, c := range cs {
			b.Stories = append(b.Stories, c.st)
			chosen = append(chosen, c.st.ID)
		}
		leadCs = append(leadCs, cs...)
		sel.Blocks = append(sel.Blocks, b)
	}

	// The leftovers in pickMore's order (pinned first, then soonest to
	// expire): the first fill "More headlines", the next are listed as
	// left out, the rest only counted.
	limit := e.MoreHeadlines
	if limit == 0 {
		limit = DefaultMoreHeadlines
	}
	leftArgs := func(first ...any) []any {
		args := append(first, end.Unix(), list.ID, sel.Date)
		args = append(args, secIDs...)
		return append(args, chosen...)
	}
	want := limit + MaxLeftOutListed
	pinned, err := read(leftoverQuery(true, len(secIDs), len(chosen)), append(leftArgs(), want)...)
	if err != nil {
		return sel, err
	}
	rest, err := read(leftoverQuery(false, len(secIDs), len(chosen)), append(leftArgs(young.Unix()), want-len(pinned))...)
	if err != nil {
		return sel, err
	}
	more, listed := pickMore(append(pinned, rest...), limit)
	if len(listed) > MaxLeftOutListed {
		listed = listed[:MaxLeftOutListed]
	}
	shown := map[int64]int{} // leads and More per section
	expiringShown := 0       // shown now, so not expiring unsent
	for _, c := range append(leadCs, more...) {
		shown[c.secID]++
		if !c.st.Pinned && !c.avail.After(expireBy) {
			expiringShown++
		}
	}
	for _, c := range more {
		sel.More = append(sel.More, c.st)
	}
	for _, c := range listed {
		sel.LeftOut = append(sel.LeftOut, c.waiting(maxAge))
	}

	// The totals, from the counts read before the leads.
	sel.LeftOutTotals = map[string]int{}
	expiring := 0
	for id, c := range counts {
		left := c.eligible - shown[id]
		if byID[id].MaxStories > 0 {
			sel.LeftOutTotals[ReasonSectionFull] += left
		} else {
			sel.LeftOutTotals[ReasonMoreFull] += left
		}
		sel.LeftOutTotals[ReasonHidden] += c.hidden
		sel.LeftOutTotals[ReasonTooOld] += c.old
		expiring += c.expiring
	}
	sel.ExpiringTotal = expiring - expiringShown
	sel.ExpiredTotal = sel.LeftOutTotals[ReasonTooOld]
	for i := range sel.Blocks {
		b := &sel.Blocks[i]
		b.Cut = counts[b.Section.ID].eligible - len(b.Stories)
	}
	listArgs := func(from, to time.Time) []any {
		args := []any{from.Unix(), to.Unix(), end.Unix(), list.ID, sel.Date}
		return append(append(args, secIDs...), MaxLeftOutListed)
	}
	if sel.LeftOutTotals[ReasonHidden] > 0 {
		cs, err := read(listedQuery(true, len(secIDs)), listArgs(young, end)...)
		if err != nil {
			return sel, err
		}
		for _, c := range cs {
			sel.LeftOut = append(sel.LeftOut, LeftOut{Story: c.st, Reason: ReasonHidden, Expires: c.avail.Add(maxAge)})
		}
	}
	if sel.ExpiredTotal > 0 {
		cs, err := read(listedQuery(false, len(secIDs)), listArgs(report, young)...)
		if err != nil {
			return sel, err
		}
		for _, c := range cs {
			sel.LeftOut = append(sel.LeftOut, LeftOut{Story: c.st, Reason: ReasonTooOld, Expires: c.avail.Add(maxAge)})
		}
	}
	return sel, nil
}
