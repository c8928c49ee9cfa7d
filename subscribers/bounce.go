package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/newsroom/digest/store"
)

// DefaultBounceLimit is how many permanent failures in a row make a
// subscriber bounced.
const DefaultBounceLimit = 3

// RecordPermanentFailure counts a permanent delivery failure of the
// subscriber's address (a 5xx reply to RCPT TO) and, when the count
// reaches limit, marks every active membership of the subscriber bounced:
// the address is bad whatever the list. It runs inside the caller's
// transaction q, so that the count and the ledger row are written
// together. bounced reports whether this failure made the subscriber
// bounced.
func RecordPermanentFailure(ctx context.Context, q store.Querier, subscriberID int64, limit, code int, reply string, now int64) (bounced bool, err error) {
	var failures int
	err = q.QueryRowContext(ctx, `
		INSERT INTO subscriber_bounces (subscriber_id, failures, last_code, last_reply, updated_at)
		SELECT ?1, 1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM subscribers WHERE id = ?1)
		ON CONFLICT (subscriber_id) DO UPDATE SET failures = failures + 1,
			last_code = excluded.last_code, last_reply = excluded.last_reply, updated_at = excluded.updated_at
		RETURNING failures`, subscriberID, code, reply, now).Scan(&failures)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // erased meanwhile: nobody left to count
	}
	if err != nil {
		return false, fmt.Errorf("count bounce: %w", err)
	}
	if limit <= 0 || failures < limit {
		return false, nil
	}
	res, err := q.ExecContext(ctx, `UPDATE memberships SET status = 'bounced', updated_at = ?
		WHERE subscriber_id = ? AND status = 'active'`, now, subscriberID)
	if err != nil {
		return false, fmt.Errorf("mark bounced: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ClearPermanentFailures forgets the subscriber's failures after a
// delivery the server accepted, so that only failures in a row count.
func ClearPermanentFailures(ctx context.Context, q store.Querier, subscriberID int64) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM subscriber_bounces WHERE subscriber_id = ?`, subscriberID); err != nil {
		return fmt.Errorf("clear bounces: %w", err)
	}
	return nil
}

// EndActive gives the subscriber's active memberships status (bounced,
// or unsubscribed after a complaint): of the list with listID, or of
// every list when listID is 0. It runs in the caller's transaction q, so
// that the change commits with the feedback event that caused it, and
// returns the ids of the lists whose membership changed.
func EndActive(ctx context.Context, q store.Querier, subscriberID, listID int64, status string, now int64) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `UPDATE memberships SET status = ?, updated_at = ?
		WHERE subscriber_id = ? AND (? = 0 OR list_id = ?) AND status = ? RETURNING list_id`,
		status, now, subscriberID, listID, listID, StatusActive)
	if err != nil {
		return nil, fmt.Errorf("mark %s: %w", status, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mark %s: %w", status, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// IDByEmail returns the id of the subscriber with the address, or 0 when
// there is none.
func IDByEmail(ctx context.Context, q store.Querier, email string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM subscribers WHERE email = ?`, strings.TrimSpace(email)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find subscriber: %w", err)
	}
	return id, nil
}

// EmailByID returns the address of the subscriber with the id.
func EmailByID(ctx context.Context, q store.Querier, id int64) (string, error) {
	var email string
	if err := q.QueryRowContext(ctx, `SELECT email FROM subscribers WHERE id = ?`, id).Scan(&email); err != nil {
		return "", fmt.Errorf("read subscriber %d: %w", id, err)
	}
	return email, nil
}
