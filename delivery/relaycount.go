package delivery

import (
	"context"
	"fmt"
	"strings"

	"github.com/newsroom/digest/store"
)

// RelayCount is how many deliveries that match a filter have one status
// through one relay (Relay is "" for the outbox and for deliveries made
// before relays were recorded).
type RelayCount struct {
	Relay  string `json:"relay"`
	Status string `json:"status"`
	Count  int    `json:"count"`
}

// CountByRelay counts the ledger rows that match f per relay and status,
// ordered by relay, then in the order of Statuses: what digest
// deliveries and editions report show per relay. One grouped scan of the
// edition's rows (or of the ledger, without an edition).
func CountByRelay(ctx context.Context, db *store.DB, f Filter) ([]RelayCount, error) {
	var where []string
	var args []any
	q := `SELECT d.relay, d.status, COUNT(*) FROM deliveries d`
	if f.ListID != 0 {
		q += ` JOIN editions e ON e.id = d.edition_id`
		where, args = append(where, "e.list_id = ?"), append(args, f.ListID)
	}
	if f.EditionID != 0 {
		where, args = append(where, "d.edition_id = ?"), append(args, f.EditionID)
	}
	if f.Status != "" {
		where, args = append(where, "d.status = ?"), append(args, f.Status)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.QueryContext(ctx, q+` GROUP BY d.relay, d.status ORDER BY d.relay`, args...)
	if err != nil {
		return nil, fmt.Errorf("count deliveries per relay: %w", err)
	}
	defer rows.Close()
	var out []RelayCount
	for rows.Next() {
		var c RelayCount
		if err := rows.Scan(&c.Relay, &c.Status, &c.Count); err != nil {
			return nil, fmt.Errorf("count deliveries per relay: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries per relay: %w", err)
	}
	rank := map[string]int{}
	for i, s := range Statuses {
		rank[s] = i
	}
	// Stable within a relay: the statuses in the ledger's order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j-1].Relay == out[j].Relay && rank[out[j-1].Status] > rank[out[j].Status]; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out, nil
}
