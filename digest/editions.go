package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// ErrNothingNew reports that no section has a new story for the edition.
var ErrNothingNew = errors.New("nothing new")

// ErrNoEdition reports that a list has no stored edition for a date.
var ErrNoEdition = errors.New("no edition")

// Build returns the stored edition of the list for the date, or selects,
// composes and stores it when there is none yet. created tells which.
// With nothing new to send it returns ErrNothingNew unless force is set.
func (e *Editions) Build(ctx context.Context, c Composer, list subscribers.List, date string, force bool) (ed Edition, created bool, err error) {
	ed, sel, err := e.BuildReport(ctx, c, list, date, force)
	return ed, sel != nil, err
}

// BuildReport is Build that also returns the selection a new edition was
// made from, with what it left out and why; the selection is nil when
// the stored edition was returned. With ErrNothingNew the selection is
// returned too, so a caller can report what was left out.
func (e *Editions) BuildReport(ctx context.Context, c Composer, list subscribers.List, date string, force bool) (Edition, *Selection, error) {
	date, _, err := e.ParseDate(list, date)
	if err != nil {
		return Edition{}, nil, err
	}
	if ed, err := e.Get(ctx, list, date); err == nil {
		return ed, nil, nil
	} else if !errors.Is(err, ErrNoEdition) {
		return ed, nil, err
	}
	sel, err := e.Select(ctx, list, date)
	if err != nil {
		return Edition{}, nil, err
	}
	if sel.Empty() && !force && !e.weeklyDue(ctx, list, date) {
		return Edition{}, &sel, fmt.Errorf("%w for list %s on %s: no section has an eligible story (visible, in no earlier edition, younger than the list's max age of %s); add stories, or use --force",
			ErrNothingNew, list.Name, date, formatAge(sel.MaxAge))
	}
	ed, err := c.Compose(sel)
	if err != nil {
		return ed, nil, err
	}
	if err := e.save(ctx, &ed); err != nil {
		if store.IsUnique(err) {
			// Another process stored the date's edition since the Get
			// above (two sends started at the same instant): send that
			// one, so both deliver the same edition.
			stored, gerr := e.Get(ctx, list, date)
			return stored, nil, gerr
		}
		return ed, nil, err
	}
	return ed, &sel, nil
}

// formatAge writes 48h0m0s as 48h.
func formatAge(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func (e *Editions) save(ctx context.Context, ed *Edition) error {
	ed.CreatedAt = e.now().UTC().Truncate(time.Second)
	return e.DB.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO editions (list_id, date, window_start, window_end, subject, preheader, html, text, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			ed.ListID, ed.Date, ed.WindowStart.Unix(), ed.WindowEnd.Unix(), ed.Subject, ed.Preheader, ed.HTML, ed.Text, ed.CreatedAt.Unix(),
		).Scan(&ed.ID)
		if err != nil {
			return fmt.Errorf("store edition: %w", err)
		}
		return saveStories(ctx, tx, *ed)
	})
}

// saveStories records which stories the edition shows, in order.
func saveStories(ctx context.Context, tx *sql.Tx, ed Edition) error {
	for i, id := range ed.StoryIDs {
		kind := "lead"
		if i >= ed.Leads {
			kind = "more"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO edition_stories (edition_id, story_id, position, kind) VALUES (?, ?, ?, ?)`,
			ed.ID, id, i, kind); err != nil {
			return fmt.Errorf("store edition stories: %w", err)
		}
	}
	return nil
}

const editionColumns = `e.id, e.list_id, e.date, e.window_start, e.window_end, e.subject, e.preheader, e.html, e.text, e.created_at`

func (e *Editions) scan(ctx context.Context, row *sql.Row) (Edition, error) {
	var ed Edition
	var ws, we, created int64
	err := row.Scan(&ed.ID, &ed.ListID, &ed.Date, &ws, &we, &ed.Subject, &ed.Preheader, &ed.HTML, &ed.Text, &created)
	if err != nil {
		return ed, err
	}
	ed.WindowStart, ed.WindowEnd, ed.CreatedAt = time.Unix(ws, 0).UTC(), time.Unix(we, 0).UTC(), time.Unix(created, 0).UTC()
	rows, err := e.DB.QueryContext(ctx, `SELECT story_id, kind FROM edition_stories WHERE edition_id = ? ORDER BY position`, ed.ID)
	if err != nil {
		return ed, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return ed, err
		}
		ed.StoryIDs = append(ed.StoryIDs, id)
		if kind == "lead" {
			ed.Leads++
		}
	}
	return ed, rows.Err()
}

// Get returns the stored edition of the list for the date.
func (e *Editions) Get(ctx context.Context, list subscribers.List, date string) (Edition, error) {
	ed, err := e.scan(ctx, e.DB.QueryRowContext(ctx, `SELECT `+editionColumns+`
		FROM editions e WHERE e.list_id = ? AND e.date = ?`, list.ID, date))
	if errors.Is(err, sql.ErrNoRows) {
		return ed, fmt.Errorf("%w of list %s for %s (see digest editions list)", ErrNoEdition, list.Name, date)
	}
	ed.List = list.Name
	return ed, err
}

// GetByID returns a stored edition by id.
func (e *Editions) GetByID(ctx context.Context, id int64) (Edition, error) {
	ed, err := e.scan(ctx, e.DB.QueryRowContext(ctx, `SELECT `+editionColumns+`
		FROM editions e WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ed, fmt.Errorf("%w with id %d (see digest editions list)", ErrNoEdition, id)
	}
	if err != nil {
		return ed, err
	}
	// The list's name comes from its owner.
	l, err := (&subscribers.Store{DB: e.DB}).GetListByID(ctx, ed.ListID)
	ed.List = l.Name
	return ed, err
}
