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

// DefaultMoreHeadlines is how many headlines the "More headlines" block
// lists at most.
const DefaultMoreHeadlines = 8

// Block is one section of an edition with its chosen stories.
type Block struct {
	Section stories.Section
	Stories []stories.Story
	// Cut counts the window's stories left out because the section was at
	// its maximum (they may still appear under "More headlines").
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
	// Images are optional pictures of lead stories, by story ID: the
	// store keeps none yet, so a caller that has them (a feed, a test)
	// fills them in before Compose. The theme shows each above its
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
}

func (e *Editions) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

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

// Select picks the edition's stories for the list and date: per section,
// pinned first, then score, then recency, among visible stories published
// inside the window and in no other edition of the list, at most the
// section's maximum; sections in display order, empty ones left out. The
// stories a full section leaves over, newest first, become "More
// headlines".
func (e *Editions) Select(ctx context.Context, list subscribers.List, date string) (Selection, error) {
	date, day, err := e.ParseDate(list, date)
	if err != nil {
		return Selection{}, err
	}
	return e.selectFor(ctx, list, date, day)
}

// selectFor is Select for a date already checked (or, for Next, a date
// after today).
func (e *Editions) selectFor(ctx context.Context, list subscribers.List, date string, day time.Time) (Selection, error) {
	start, end, err := e.window(ctx, list, date, day)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{List: list, Date: date, WindowStart: start, WindowEnd: end}
	rows, err := e.DB.QueryContext(ctx, `
		SELECT c.id, c.name, c.title, c.display_order, c.max_stories,
		       s.id, s.title, s.url, s.teaser, s.published_at, s.score, s.pinned
		FROM stories s JOIN sections c ON c.id = s.section_id
		WHERE s.hidden = 0 AND s.published_at > ? AND s.published_at <= ?
		  AND NOT EXISTS (
			-- CROSS JOIN keeps this order: from the story's few rows in
			-- edition_stories to their editions, not through every
			-- edition of the list (10x faster at 1M stories).
			SELECT 1 FROM edition_stories es CROSS JOIN editions ed ON ed.id = es.edition_id
			WHERE es.story_id = s.id AND ed.list_id = ? AND ed.date <> ?)
		ORDER BY c.display_order, c.id, s.pinned DESC, s.score DESC, s.published_at DESC, s.id DESC`,
		start.Unix(), end.Unix(), list.ID, date)
	if err != nil {
		return sel, fmt.Errorf("select stories: %w", err)
	}
	defer rows.Close()
	allowed := map[string]bool{}
	for _, name := range list.Sections {
		allowed[strings.ToLower(name)] = true
	}
	var leftover []stories.Story
	for rows.Next() {
		var sec stories.Section
		var st stories.Story
		var published int64
		if err := rows.Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories,
			&st.ID, &st.Title, &st.URL, &st.Teaser, &published, &st.Score, &st.Pinned); err != nil {
			return sel, err
		}
		if len(allowed) > 0 && !allowed[strings.ToLower(sec.Name)] {
			continue
		}
		st.Section = sec.DisplayName()
		st.PublishedAt = time.Unix(published, 0).UTC()
		n := len(sel.Blocks)
		if n == 0 || sel.Blocks[n-1].Section.ID != sec.ID {
			sel.Blocks = append(sel.Blocks, Block{Section: sec})
			n++
		}
		b := &sel.Blocks[n-1]
		if len(b.Stories) < sec.MaxStories {
			b.Stories = append(b.Stories, st)
		} else {
			b.Cut++
			leftover = append(leftover, st)
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
	sort.SliceStable(leftover, func(i, j int) bool { return leftover[i].PublishedAt.After(leftover[j].PublishedAt) })
	limit := e.MoreHeadlines
	if limit == 0 {
		limit = DefaultMoreHeadlines
	}
	if len(leftover) > limit {
		leftover = leftover[:limit]
	}
	sel.More = leftover
	return sel, nil
}
