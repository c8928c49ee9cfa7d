// Package ledger reads the delivery ledger (the deliveries table) for the
// packages the delivery engine sits above or beside: digest (an
// edition's recipients by status), bounces (the delivery a report names)
// and anything the subscriber-facing web server links. It imports only
// store, so that reading the ledger never links the SMTP engine; the
// engine (package delivery) writes the rows.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/newsroom/digest/store"
)

// Ledger statuses (package delivery names the same values).
const (
	StatusQueued   = "queued"
	StatusSent     = "sent"
	StatusDeferred = "deferred"
	StatusFailed   = "failed"
	StatusUnknown  = "unknown"
)

// Delivery names one row of the ledger.
type Delivery struct {
	ID, EditionID, SubscriberID int64
}

// ByID returns the delivery with the id, or nil when there is none.
func ByID(ctx context.Context, q store.Querier, id int64) (*Delivery, error) {
	return one(ctx, q, `SELECT id, edition_id, subscriber_id FROM deliveries WHERE id = ?`, id)
}

// ByMessageID returns the delivery whose message had the Message-ID
// (without angle brackets), or nil when there is none.
func ByMessageID(ctx context.Context, q store.Querier, messageID string) (*Delivery, error) {
	return one(ctx, q, `SELECT id, edition_id, subscriber_id FROM deliveries WHERE message_id = ?`, strings.Trim(messageID, "<>"))
}

// LatestSent returns the last delivery sent to the subscriber, the one
// with the Message-ID first when one of them has it; nil when none was
// sent.
func LatestSent(ctx context.Context, q store.Querier, subscriberID int64, messageID string) (*Delivery, error) {
	return one(ctx, q, `SELECT id, edition_id, subscriber_id FROM deliveries
		WHERE subscriber_id = ? AND status = ? ORDER BY (message_id = ?) DESC, updated_at DESC, id DESC LIMIT 1`,
		subscriberID, StatusSent, strings.Trim(messageID, "<>"))
}

func one(ctx context.Context, q store.Querier, query string, args ...any) (*Delivery, error) {
	var d Delivery
	err := q.QueryRowContext(ctx, query, args...).Scan(&d.ID, &d.EditionID, &d.SubscriberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find delivery: %w", err)
	}
	return &d, nil
}

// LastSentEdition returns the id of the list's latest edition (by date)
// sent to the subscriber, or 0 when none was. The ledger drives the
// statement through its subscriber index; the edition's list and date
// come from editions (digest's table) in the same statement, where
// asking digest per delivery would be one query per edition ever sent.
func LastSentEdition(ctx context.Context, q store.Querier, subscriberID, listID int64) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT d.edition_id FROM deliveries d JOIN editions e ON e.id = d.edition_id
		WHERE d.subscriber_id = ? AND e.list_id = ? AND d.status = ? ORDER BY e.date DESC LIMIT 1`,
		subscriberID, listID, StatusSent).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find last edition sent: %w", err)
	}
	return id, nil
}

// CountByStatus counts the edition's deliveries by status (statuses with
// no row are absent).
func CountByStatus(ctx context.Context, q store.Querier, editionID int64) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT status, COUNT(*) FROM deliveries WHERE edition_id = ? GROUP BY status`, editionID)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}
