package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/subscribers"
)

// ErrEditionSent reports a rebuild or discard of an edition that may
// already be in someone's inbox.
var ErrEditionSent = errors.New("edition already sent")

// Recipients counts an edition's deliveries by status.
type Recipients struct {
	Queued   int `json:"queued"`
	Sent     int `json:"sent"`
	Deferred int `json:"deferred"`
	Failed   int `json:"failed"`
	// Other counts statuses this version does not name (a newer engine's).
	Other int `json:"other,omitempty"`
}

// Total is every delivery of the edition.
func (r Recipients) Total() int { return r.Queued + r.Sent + r.Deferred + r.Failed + r.Other }

// Reached counts deliveries that may have reached an inbox: all but the
// failed ones (a queued or deferred message may have been accepted just
// before a crash or a dropped connection).
func (r Recipients) Reached() int { return r.Total() - r.Failed }

// Info describes a stored edition for digest editions list and show.
type Info struct {
	ID          int64      `json:"id"`
	List        string     `json:"list"`
	Date        string     `json:"date"`
	Subject     string     `json:"subject"`
	Stories     int        `json:"stories"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	Built       time.Time  `json:"built"`
	Recipients  Recipients `json:"recipients"`
}

const infoQuery = `
	SELECT e.id, l.name, e.date, e.subject, e.window_start, e.window_end, e.created_at,
	       (SELECT COUNT(*) FROM edition_stories es WHERE es.edition_id = e.id),
	       (SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'queued'),
	       (SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent'),
	       (SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'deferred'),
	       (SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'failed'),
	       (SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status NOT IN ('queued', 'sent', 'deferred', 'failed'))
	FROM editions e JOIN lists l ON l.id = e.list_id`

func scanInfo(sc interface{ Scan(...any) error }) (Info, error) {
	var in Info
	var ws, we, built int64
	r := &in.Recipients
	err := sc.Scan(&in.ID, &in.List, &in.Date, &in.Subject, &ws, &we, &built, &in.Stories, &r.Queued, &r.Sent, &r.Deferred, &r.Failed, &r.Other)
	in.WindowStart, in.WindowEnd, in.Built = time.Unix(ws, 0).UTC(), time.Unix(we, 0).UTC(), time.Unix(built, 0).UTC()
	return in, err
}

// Infos calls fn for every stored edition, newest date first; listID 0
// means every list.
func (e *Editions) Infos(ctx context.Context, listID int64, fn func(Info) error) error {
	rows, err := e.DB.QueryContext(ctx, infoQuery+` WHERE ? = 0 OR e.list_id = ? ORDER BY e.date DESC, l.name, e.id DESC`, listID, listID)
	if err != nil {
		return fmt.Errorf("read editions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		in, err := scanInfo(rows)
		if err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return rows.Err()
}

// InfoByID describes one stored edition.
func (e *Editions) InfoByID(ctx context.Context, id int64) (Info, error) {
	in, err := scanInfo(e.DB.QueryRowContext(ctx, infoQuery+` WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, fmt.Errorf("%w with id %d (see digest editions list)", ErrNoEdition, id)
	}
	return in, err
}

// unsentCheck refuses with ErrEditionSent when a delivery of the edition
// may have reached someone.
func unsentCheck(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ed Edition, what string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE edition_id = ? AND status <> 'failed'`, ed.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: edition %d of %s for %s has gone to %d recipients, so it cannot be %s; it stays as they got it, and stories not in it wait for the next edition (see digest editions show %d)",
			ErrEditionSent, ed.ID, ed.List, ed.Date, n, what, ed.ID)
	}
	return nil
}

// Rebuild selects and composes a stored edition again, in place (same
// id and date), while nobody has been sent it: an edition forced on a
// quiet day takes the stories that came in since. Failed deliveries
// stay recorded. It returns the new edition and its selection.
func (e *Editions) Rebuild(ctx context.Context, c Composer, id int64) (Edition, Selection, error) {
	old, err := e.GetByID(ctx, id)
	if err != nil {
		return old, Selection{}, err
	}
	if err := unsentCheck(ctx, e.DB, old, "rebuilt"); err != nil {
		return old, Selection{}, err
	}
	list, err := (&subscribers.Store{DB: e.DB, Now: e.Now}).GetListByID(ctx, old.ListID)
	if err != nil {
		return old, Selection{}, err
	}
	day, err := time.ParseInLocation(DateLayout, old.Date, list.Location())
	if err != nil {
		return old, Selection{}, err
	}
	sel, err := e.selectFor(ctx, list, old.Date, day)
	if err != nil {
		return old, sel, err
	}
	ed, err := c.Compose(sel)
	if err != nil {
		return old, sel, err
	}
	ed.ID, ed.CreatedAt = old.ID, e.now().UTC().Truncate(time.Second)
	err = e.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := unsentCheck(ctx, tx, old, "rebuilt"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE editions SET window_start = ?, window_end = ?, subject = ?, preheader = ?, html = ?, text = ?, created_at = ? WHERE id = ?`,
			ed.WindowStart.Unix(), ed.WindowEnd.Unix(), ed.Subject, ed.Preheader, ed.HTML, ed.Text, ed.CreatedAt.Unix(), ed.ID); err != nil {
			return fmt.Errorf("store edition: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM edition_stories WHERE edition_id = ?`, ed.ID); err != nil {
			return err
		}
		return saveStories(ctx, tx, ed)
	})
	return ed, sel, err
}

// Discard deletes a stored edition while nobody has been sent it; its
// stories become eligible again and the next send builds the date anew.
func (e *Editions) Discard(ctx context.Context, id int64) (Edition, error) {
	ed, err := e.GetByID(ctx, id)
	if err != nil {
		return ed, err
	}
	err = e.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := unsentCheck(ctx, tx, ed, "discarded"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM editions WHERE id = ?`, id)
		return err
	})
	return ed, err
}
