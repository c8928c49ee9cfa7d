package subscribers

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/newsroom/digest/store"
)

// This file is what the delivery engine reads of the tables subscribers
// owns (memberships, subscribers, subscriber_bounces, suppressions): the engine pages
// recipients through these functions instead of writing its own SQL
// against them, so that what "an active member" means is decided here.

// Recipient is an active member as the delivery engine pages them.
type Recipient struct {
	Subscriber
	// Bounces are the subscriber's permanent failures in a row so far.
	Bounces int
	// Prefs are the reader's choices on the list (sections, frequency,
	// pause), which pick their variant of the edition.
	Prefs Prefs
	// Suppressed: the address is on the suppression list; never mailed.
	Suppressed bool
}

// ActiveMembers returns up to n active members of the list whose
// subscriber id is greater than after, in id order: a keyset page, so
// that a run over a list of any size reads each member once, through the
// memberships primary key, and a member added mid-run is still reached.
func ActiveMembers(ctx context.Context, q store.Querier, listID, after int64, n int) ([]Recipient, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT s.id, s.email, s.name, s.token, COALESCE(b.failures, 0),
		       s.pref_token, m.sections, m.frequency, m.paused_until,
		       EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email)
		FROM memberships m
		JOIN subscribers s ON s.id = m.subscriber_id
		LEFT JOIN subscriber_bounces b ON b.subscriber_id = m.subscriber_id
		WHERE m.list_id = ? AND m.status = ? AND m.subscriber_id > ?
		ORDER BY m.subscriber_id LIMIT ?`, listID, StatusActive, after, n)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	defer rows.Close()
	out := make([]Recipient, 0, n)
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.ID, &r.Email, &r.Name, &r.Token, &r.Bounces,
			&r.PrefToken, &r.Prefs.Sections, &r.Prefs.Frequency, &r.Prefs.PausedUntil, &r.Suppressed); err != nil {
			return nil, fmt.Errorf("read recipients: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return out, nil
}

// CountActiveUnsettled counts the list's active members who have no row
// for the edition in the delivery ledger with one of the settled
// statuses: the members a run will attempt.
//
// It is the one query of this package that reads a table another package
// owns (deliveries, owned by delivery), and on purpose: the engine needs
// the count for its progress total before a run starts, and one join over
// the memberships and deliveries keys counts a list of any size in one
// statement, where otherwise every member and every ledger row would be
// paged through Go just to be counted. memberships drives the join, so
// its owner exposes it; which statuses are settled stays the ledger's
// business: delivery passes them.
func CountActiveUnsettled(ctx context.Context, q store.Querier, listID, editionID int64, settled []string) (int, error) {
	// The statuses travel as parameters, one placeholder each.
	args := []any{editionID, listID, StatusActive}
	in := "''"
	if len(settled) > 0 {
		in = strings.TrimSuffix(strings.Repeat("?, ", len(settled)), ", ")
		for _, st := range settled {
			args = append(args, st)
		}
	}
	var n int
	err := q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM memberships m
		LEFT JOIN deliveries d ON d.edition_id = ? AND d.subscriber_id = m.subscriber_id
		WHERE m.list_id = ? AND m.status = ? AND (d.status IS NULL OR d.status NOT IN (`+in+`))
		  AND NOT EXISTS (SELECT 1 FROM suppressions x JOIN subscribers s ON s.email = x.email WHERE s.id = m.subscriber_id)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}

// ActiveCheck tells whether a subscriber is still an active member of a
// list, with one statement prepared once: the engine asks it just before
// each handover, since a page can be read hours before its messages go
// out (someone may have unsubscribed or been erased since).
type ActiveCheck struct{ stmt *sql.Stmt }

// PrepareActiveCheck prepares the check on db; Close releases it.
func PrepareActiveCheck(ctx context.Context, db *store.DB) (*ActiveCheck, error) {
	stmt, err := db.PrepareContext(ctx, `SELECT EXISTS (SELECT 1 FROM memberships
		WHERE list_id = ? AND subscriber_id = ? AND status = ?)`)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return &ActiveCheck{stmt: stmt}, nil
}

// Active reports whether the subscriber is an active member of the list.
func (c *ActiveCheck) Active(ctx context.Context, listID, subscriberID int64) (bool, error) {
	var active bool
	err := c.stmt.QueryRowContext(ctx, listID, subscriberID, StatusActive).Scan(&active)
	return active, err
}

// Close releases the prepared statement.
func (c *ActiveCheck) Close() error { return c.stmt.Close() }
