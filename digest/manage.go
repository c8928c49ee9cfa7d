package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/ledger"
	"github.com/newsroom/digest/store"
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
	// Unknown counts messages sent whose final reply never came: they may
	// be in an inbox, so they are neither sent nor missing.
	Unknown int `json:"unknown"`
	// Other counts statuses this version does not name (a newer engine's).
	Other int `json:"other,omitempty"`
}

// Total is every delivery of the edition.
func (r Recipients) Total() int {
	return r.Queued + r.Sent + r.Deferred + r.Failed + r.Unknown + r.Other
}

// Reached counts deliveries that may have reached an inbox: all but the
// failed ones (a queued, deferred or unknown message may have been
// accepted just before a crash or a dropped connection).
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
	       (SELECT COUNT(*) FROM edition_stories es WHERE es.edition_id = e.id)
	FROM editions e JOIN lists l ON l.id = e.list_id`

func scanInfo(sc interface{ Scan(...any) error }) (Info, error) {
	var in Info
	var ws, we, built int64
	err := sc.Scan(&in.ID, &in.List, &in.Date, &in.Subject, &ws, &we, &built, &in.Stories)
	in.WindowStart, in.WindowEnd, in.Built = time.Unix(ws, 0).UTC(), time.Unix(we, 0).UTC(), time.Unix(built, 0).UTC()
	return in, err
}

// recipients counts the edition's deliveries by status, through the
// ledger's reader (the deliveries table is not digest's).
func recipients(ctx context.Context, q store.Querier, editionID int64) (Recipients, error) {
	n, err := ledger.CountByStatus(ctx, q, editionID)
	if err != nil {
		return Recipients{}, err
	}
	r := Recipients{Queued: n[ledger.StatusQueued], Sent: n[ledger.StatusSent], Deferred: n[ledger.StatusDeferred],
		Failed: n[ledger.StatusFailed], Unknown: n[ledger.StatusUnknown]}
	for _, c := range n {
		r.Other += c
	}
	r.Other -= r.Queued + r.Sent + r.Deferred + r.Failed + r.Unknown
	return r, nil
}

// Infos calls fn for every stored edition, newest date first; listID 0
// means every list. The editions are read first and counted after, one
// indexed ledger query each, so that no statement stays open across fn.
func (e *Editions) Infos(ctx context.Context, listID int64, fn func(Info) error) error {
	rows, err := e.DB.QueryContext(ctx, infoQuery+` WHERE ? = 0 OR e.list_id = ? ORDER BY e.date DESC, l.name, e.id DESC`, listID, listID)
	if err != nil {
		return fmt.Errorf("read editions: %w", err)
	}
	var infos []Info
	for rows.Next() {
		in, err := scanInfo(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read editions: %w", err)
		}
		infos = append(infos, in)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("read editions: %w", err)
	}
	for _, in := range infos {
		if in.Recipients, err = recipients(ctx, e.DB, in.ID); err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// InfoByID describes one stored edition.
func (e *Editions) InfoByID(ctx context.Context, id int64) (Info, error) {
	in, err := scanInfo(e.DB.QueryRowContext(ctx, infoQuery+` WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, fmt.Errorf("%w with id %d (see digest editions list)", ErrNoEdition, id)
	}
	if err != nil {
		return in, err
	}
	in.Recipients, err = recipients(ctx, e.DB, id)
	return in, err
}

// unsentCheck refuses with ErrEditionSent when a delivery of the edition
// may have reached someone.
func unsentCheck(ctx context.Context, q store.Querier, ed Edition, what string) error {
	r, err := recipients(ctx, q, ed.ID)
	if err != nil {
		return err
	}
	if n := r.Reached(); n > 0 {
		recipients := "recipients"
		if n == 1 {
			recipients = "recipient"
		}
		return fmt.Errorf("%w: edition %d of %s for %s has gone to %d %s, so it cannot be %s; it stays as they got it, and stories not in it wait for the next edition (see digest editions show %d, or digest editions list)",
			ErrEditionSent, ed.ID, ed.List, ed.Date, n, recipients, what, ed.ID)
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
