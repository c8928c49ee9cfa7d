package digest

import (
	"context"
	"fmt"
	"time"

	"github.com/newsroom/digest/subscribers"
)

// Summary describes a stored edition for listings, without its bodies.
type Summary struct {
	ID        int64     `json:"id"`
	Date      string    `json:"date"`
	Subject   string    `json:"subject"`
	Stories   int       `json:"stories"`
	CreatedAt time.Time `json:"created_at"`
}

// Recent returns up to limit stored editions of the list, newest first.
func (e *Editions) Recent(ctx context.Context, list subscribers.List, limit int) ([]Summary, error) {
	rows, err := e.DB.QueryContext(ctx, `
		SELECT e.id, e.date, e.subject, e.created_at,
		       (SELECT COUNT(*) FROM edition_stories es WHERE es.edition_id = e.id)
		FROM editions e WHERE e.list_id = ? ORDER BY e.date DESC LIMIT ?`, list.ID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var s Summary
		var created int64
		if err := rows.Scan(&s.ID, &s.Date, &s.Subject, &created, &s.Stories); err != nil {
			return nil, err
		}
		s.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// CountForList counts the list's stored editions, what deleting the list
// removes with it.
func (e *Editions) CountForList(ctx context.Context, listID int64) (int64, error) {
	var n int64
	if err := e.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM editions WHERE list_id = ?`, listID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count editions: %w", err)
	}
	return n, nil
}
