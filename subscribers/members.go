package subscribers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// ErrNotMember reports a subscriber who is not on the named list.
var ErrNotMember = errors.New("not on the list")

// Member is one row of a listing: a subscriber with one membership. A
// subscriber on no list at all appears once with an empty List and Status.
type Member struct {
	ID         int64           `json:"id"`
	Email      string          `json:"email"`
	Name       string          `json:"name"`
	List       string          `json:"list"`
	Status     string          `json:"status"`
	Since      time.Time       `json:"since"`
	Attributes json.RawMessage `json:"attributes"`
	CreatedAt  time.Time       `json:"created_at"`
}

// Filter narrows a listing: empty fields match everything.
type Filter struct {
	List   string
	Status string
}

// ValidStatus reports whether status is a membership status.
func ValidStatus(status string) bool {
	return status == StatusActive || status == StatusUnsubscribed || status == StatusBounced
}

func (s *Store) checkFilter(ctx context.Context, f Filter) (int64, error) {
	if f.Status != "" && !ValidStatus(f.Status) {
		return 0, fmt.Errorf("status %q: use active, unsubscribed or bounced", clip(f.Status))
	}
	if f.List == "" {
		return 0, nil
	}
	l, err := s.GetList(ctx, f.List)
	return l.ID, err
}

// EachMember calls fn for every membership matching the filter, in
// subscriber id order, streaming from the database so that a listing of
// any size uses constant memory. Without a list filter, subscribers who
// are on no list are included (unless a status is asked for).
func (s *Store) EachMember(ctx context.Context, f Filter, fn func(Member) error) error {
	listID, err := s.checkFilter(ctx, f)
	if err != nil {
		return err
	}
	var rows *sql.Rows
	const cols = `s.id, s.email, s.name, s.attributes, s.created_at`
	if listID != 0 {
		// The primary key (list_id, subscriber_id) yields the order.
		rows, err = s.DB.QueryContext(ctx, `SELECT `+cols+`, ?, m.status, m.updated_at
			FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
			WHERE m.list_id = ? AND (? = '' OR m.status = ?) ORDER BY m.subscriber_id`, f.List, listID, f.Status, f.Status)
	} else {
		rows, err = s.DB.QueryContext(ctx, `SELECT `+cols+`, COALESCE(l.name, ''), COALESCE(m.status, ''), COALESCE(m.updated_at, 0)
			FROM subscribers s LEFT JOIN memberships m ON m.subscriber_id = s.id LEFT JOIN lists l ON l.id = m.list_id
			WHERE (? = '' OR m.status = ?) ORDER BY s.id, l.name`, f.Status, f.Status)
	}
	if err != nil {
		return fmt.Errorf("read subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Member
		var attrs string
		var created, since int64
		if err := rows.Scan(&m.ID, &m.Email, &m.Name, &attrs, &created, &m.List, &m.Status, &since); err != nil {
			return fmt.Errorf("read subscribers: %w", err)
		}
		m.Attributes = json.RawMessage(attrs)
		m.CreatedAt = time.Unix(created, 0).UTC()
		if since != 0 {
			m.Since = time.Unix(since, 0).UTC()
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Tally is what Count reports: memberships by status per list, and the
// number of distinct people they belong to.
type Tally struct {
	Lists []ListTally `json:"lists"`
	// People counts distinct subscribers: on the named list, or in the
	// whole store (including those on no list) when no list was named.
	People int64 `json:"subscribers"`
}

// ListTally is one list's line of a Tally.
type ListTally struct {
	List string `json:"list"`
	Counts
	Total int64 `json:"total"`
}

// Count tallies memberships by status for one list, or for every list
// when list is empty.
func (s *Store) Count(ctx context.Context, list string) (Tally, error) {
	var t Tally
	listID, err := s.checkFilter(ctx, Filter{List: list})
	if err != nil {
		return t, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT l.name, m.status, COUNT(m.list_id)
		FROM lists l LEFT JOIN memberships m ON m.list_id = l.id
		WHERE ? = 0 OR l.id = ? GROUP BY l.name, m.status ORDER BY l.name`, listID, listID)
	if err != nil {
		return t, fmt.Errorf("count subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var status sql.NullString
		var n int64
		if err := rows.Scan(&name, &status, &n); err != nil {
			return t, err
		}
		if len(t.Lists) == 0 || t.Lists[len(t.Lists)-1].List != name {
			t.Lists = append(t.Lists, ListTally{List: name})
		}
		lt := &t.Lists[len(t.Lists)-1]
		lt.add(status.String, n)
		lt.Total = lt.Counts.Total()
	}
	if err := rows.Err(); err != nil {
		return t, err
	}
	q := `SELECT COUNT(*) FROM subscribers`
	args := []any{}
	if listID != 0 {
		q = `SELECT COUNT(*) FROM memberships WHERE list_id = ?`
		args = append(args, listID)
	}
	if err := s.DB.QueryRowContext(ctx, q, args...).Scan(&t.People); err != nil {
		return t, fmt.Errorf("count subscribers: %w", err)
	}
	return t, nil
}

// WriteRetry is how long a membership change (unsubscribe, resubscribe)
// that finds the database locked by another writer is tried again
// before it fails.
const WriteRetry = time.Minute

// Unsubscribe marks the subscriber's membership of list as unsubscribed,
// or every membership when list is empty, and returns the names of the
// lists whose status changed (none when already unsubscribed).
func (s *Store) Unsubscribe(ctx context.Context, email, list string) ([]string, error) {
	return s.setStatus(ctx, email, list, StatusUnsubscribed)
}

// Resubscribe makes the subscriber's membership of list active again, or
// every membership when list is empty: the way back after an unsubscribe
// (with the person's consent) or a bounce (once the address works).
// It returns the names of the lists whose status changed.
func (s *Store) Resubscribe(ctx context.Context, email, list string) ([]string, error) {
	return s.setStatus(ctx, email, list, StatusActive)
}

func (s *Store) setStatus(ctx context.Context, email, list, status string) ([]string, error) {
	sub, err := s.Get(ctx, email)
	if err != nil {
		return nil, err
	}
	listID, err := s.checkFilter(ctx, Filter{List: list})
	if err != nil {
		return nil, err
	}
	var changed []string
	write := func(tx *sql.Tx) error {
		var member int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE subscriber_id = ? AND (? = 0 OR list_id = ?)`,
			sub.ID, listID, listID).Scan(&member); err != nil {
			return err
		}
		if member == 0 {
			where := "any list"
			if list != "" {
				where = "list " + list
			}
			return fmt.Errorf("%s is %w: %s (add them with digest subscribers add %s --list L)", sub.Email, ErrNotMember, where, sub.Email)
		}
		var err error
		changed, err = s.updateStatus(ctx, tx, sub.ID, list, "", status, Change{Source: SourceCLI})
		return err
	}
	err = store.RetryBusy(ctx, WriteRetry, func() error {
		changed = changed[:0]
		return s.DB.InTx(ctx, write)
	})
	if err != nil && !errors.Is(err, ErrNotMember) {
		return nil, fmt.Errorf("set %s: %w", status, err)
	}
	return changed, err
}

// Details is everything the store holds about one subscriber, except the
// unsubscribe token.
type Details struct {
	ID          int64            `json:"id"`
	Email       string           `json:"email"`
	Name        string           `json:"name"`
	Attributes  json.RawMessage  `json:"attributes"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	Memberships []MembershipInfo `json:"memberships"`
	Deliveries  []DeliveryRecord `json:"recent_deliveries"`
	// Consent is every change of the person's memberships, oldest first.
	Consent []ConsentEvent `json:"consent"`
}

// MembershipInfo is one list a subscriber is on.
type MembershipInfo struct {
	List   string    `json:"list"`
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
}

// DeliveryRecord is one entry of the delivery ledger, as a subscriber's
// details show it (delivery.SubscriberDeliveries reads them).
type DeliveryRecord struct {
	List      string    `json:"list"`
	Date      string    `json:"date"`
	Subject   string    `json:"subject"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	MessageID string    `json:"message_id"`
	Reply     string    `json:"reply,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Show returns the subscriber's details with their memberships.
// Deliveries is left empty: the ledger is delivery's table, and
// delivery.SubscriberDeliveries reads it for whoever shows both.
func (s *Store) Show(ctx context.Context, email string) (Details, error) {
	var d Details
	addr, err := NormalizeAddress(email)
	if err != nil {
		return d, err
	}
	var attrs string
	var created, updated int64
	err = s.DB.QueryRowContext(ctx, `SELECT id, email, name, attributes, created_at, updated_at FROM subscribers WHERE email = ?`, addr).
		Scan(&d.ID, &d.Email, &d.Name, &attrs, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%w %s: add them with digest subscribers add", ErrUnknownSubscriber, addr)
	}
	if err != nil {
		return d, fmt.Errorf("read subscriber: %w", err)
	}
	d.Attributes = json.RawMessage(attrs)
	d.CreatedAt, d.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	d.Memberships = []MembershipInfo{}
	d.Deliveries = []DeliveryRecord{}
	rows, err := s.DB.QueryContext(ctx, `SELECT l.name, m.status, m.updated_at FROM memberships m JOIN lists l ON l.id = m.list_id
		WHERE m.subscriber_id = ? ORDER BY l.name`, d.ID)
	if err != nil {
		return d, fmt.Errorf("read memberships: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m MembershipInfo
		var since int64
		if err := rows.Scan(&m.List, &m.Status, &since); err != nil {
			return d, err
		}
		m.Since = time.Unix(since, 0).UTC()
		d.Memberships = append(d.Memberships, m)
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.Consent, err = s.Consent(ctx, d.ID)
	return d, err
}

// Erased counts what Remove deleted with the subscriber. Deliveries is
// the caller's to fill (delivery.CountForSubscriber, read just before):
// the ledger is delivery's table.
type Erased struct {
	Email       string `json:"email"`
	Memberships int64  `json:"memberships"`
	Deliveries  int64  `json:"deliveries"`
}

// Remove erases the subscriber: the person, their memberships and their
// delivery history (the foreign keys cascade), as a data-protection
// erasure asks. SQLite's secure_delete overwrites the freed content and a
// checkpoint moves it out of the write-ahead log, so the address does not
// linger in the database file. Files outside the database (an .eml
// outbox) are not touched.
func (s *Store) Remove(ctx context.Context, email string) (Erased, error) {
	sub, err := s.Get(ctx, email)
	if err != nil {
		return Erased{}, err
	}
	e := Erased{Email: sub.Email}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE subscriber_id = ?`, sub.ID).Scan(&e.Memberships); err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	// Pending sign-ups name the address too (consent records cascade).
	if _, err := tx.ExecContext(ctx, `DELETE FROM signups WHERE email = ?`, sub.Email); err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, sub.ID); err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return e, fmt.Errorf("remove subscriber: %w", err)
	}
	// Best effort: a reader elsewhere can hold the checkpoint back; the
	// next automatic checkpoint then finishes the job. A TRUNCATE
	// checkpoint blocks writers while it waits for readers, so it waits
	// one second at most, not the busy timeout.
	conn.ExecContext(ctx, `PRAGMA busy_timeout = 1000`)
	conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, store.BusyTimeout.Milliseconds()))
	return e, nil
}
