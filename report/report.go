// Package report tells editors and operators what happened after a send:
// the edition report (deliveries, bounces, complaints, unsubscribes by
// method, deliveries per relay, clicks per story), the per-list history
// chart, and the totals /metrics reads from the database so that they
// survive restarts.
//
// It owns only the counters table, yet reads every other owner's tables
// (editions, lists, deliveries, edition_stories, stories, feedback_events,
// story_clicks, suppressions) on purpose: a report is one read-only
// aggregate across all of them, grouped in SQL, where asking each owner
// per edition would be a query per edition and table and would still
// need the same joins. It writes nothing but counters.
package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/store"
)

// Edition is the report of one edition.
type Edition struct {
	ID         int64  `json:"id"`
	List       string `json:"list"`
	Date       string `json:"date"`
	Subject    string `json:"subject"`
	Recipients int64  `json:"recipients"`
	Accepted   int64  `json:"accepted"`
	Failed     int64  `json:"failed"`
	Deferred   int64  `json:"deferred"`
	// Unknown are deliveries whose outcome the ledger does not know
	// (queued, or the status "unknown" where the engine records one).
	Unknown      int64            `json:"unknown"`
	BouncedHard  int64            `json:"bounced_hard"`
	BouncedSoft  int64            `json:"bounced_soft"`
	Complaints   int64            `json:"complaints"`
	Unsubscribes map[string]int64 `json:"unsubscribes"`
	// Relays counts the deliveries per relay and status (relay "" for
	// the outbox and for rows from before relays were recorded), ordered
	// by relay, then in the ledger's order of statuses.
	Relays  []delivery.RelayCount `json:"relays"`
	Stories []Story               `json:"stories"`
}

// Story is one story of the edition with its clicks.
type Story struct {
	ID     int64  `json:"id"`
	Title  string `json:"title"`
	URL    string `json:"url"`
	Clicks int64  `json:"clicks"`
}

// ErrUnknownEdition reports an edition id that is not stored.
var ErrUnknownEdition = errors.New("unknown edition")

// ForEdition builds the report of the edition with the id.
func ForEdition(ctx context.Context, db *store.DB, id int64) (Edition, error) {
	r := Edition{ID: id, Unsubscribes: map[string]int64{"one-click": 0, "link": 0, "mail": 0, "complaint": 0}, Relays: []delivery.RelayCount{}, Stories: []Story{}}
	err := db.QueryRowContext(ctx, `SELECT l.name, e.date, e.subject FROM editions e JOIN lists l ON l.id = e.list_id WHERE e.id = ?`, id).
		Scan(&r.List, &r.Date, &r.Subject)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w %d: see digest editions list for the edition ids", ErrUnknownEdition, id)
	}
	if err != nil {
		return r, err
	}
	rows, err := db.QueryContext(ctx, `SELECT status, COUNT(*) FROM deliveries WHERE edition_id = ? GROUP BY status`, id)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return r, err
		}
		r.Recipients += n
		switch st {
		case "sent":
			r.Accepted += n
		case "failed":
			r.Failed += n
		case "deferred":
			r.Deferred += n
		default:
			r.Unknown += n
		}
	}
	rows.Close()
	relays, err := delivery.CountByRelay(ctx, db, delivery.Filter{EditionID: id})
	if err != nil {
		return r, err
	}
	r.Relays = append(r.Relays, relays...)
	// Bounces count readers, not reports: three reports for one address
	// are one bounced reader.
	rows, err = db.QueryContext(ctx, `SELECT kind, method, COUNT(DISTINCT COALESCE(subscriber_id, -id)) FROM feedback_events WHERE edition_id = ? GROUP BY kind, method`, id)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var kind, method string
		var n int64
		if err := rows.Scan(&kind, &method, &n); err != nil {
			rows.Close()
			return r, err
		}
		switch kind {
		case "hard":
			r.BouncedHard += n
		case "soft":
			r.BouncedSoft += n
		case "complaint":
			r.Complaints += n
		case "unsubscribe":
			r.Unsubscribes[method] += n
		}
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT s.id, s.title, s.url, COALESCE(k.clicks, 0) FROM edition_stories es
		JOIN stories s ON s.id = es.story_id LEFT JOIN story_clicks k ON k.edition_id = es.edition_id AND k.story_id = es.story_id
		WHERE es.edition_id = ? ORDER BY es.position`, id)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var s Story
		if err := rows.Scan(&s.ID, &s.Title, &s.URL, &s.Clicks); err != nil {
			return r, err
		}
		r.Stories = append(r.Stories, s)
	}
	return r, rows.Err()
}

// Point is one edition in a list's history chart.
type Point struct {
	EditionID                       int64
	Date                            string
	Accepted, Bounced, Unsubscribed int64
}

// History is the list's last n editions that went out, oldest first.
func History(ctx context.Context, db *store.DB, listID int64, n int) ([]Point, error) {
	rows, err := db.QueryContext(ctx, `SELECT e.id, e.date,
		(SELECT COUNT(*) FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent'),
		(SELECT COUNT(DISTINCT COALESCE(f.subscriber_id, -f.id)) FROM feedback_events f WHERE f.edition_id = e.id AND f.kind IN ('hard', 'soft')),
		(SELECT COUNT(*) FROM feedback_events f WHERE f.edition_id = e.id AND f.kind = 'unsubscribe')
		FROM editions e WHERE e.list_id = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')
		ORDER BY e.date DESC LIMIT ?`, listID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		if err := rows.Scan(&p.EditionID, &p.Date, &p.Accepted, &p.Bounced, &p.Unsubscribed); err != nil {
			return nil, err
		}
		out = append([]Point{p}, out...)
	}
	return out, rows.Err()
}

// Counter names kept in the counters table.
const (
	CounterManualSends    = "manual_sends"
	CounterManualSent     = "manual_messages_sent"
	CounterManualUnknown  = "manual_messages_unknown"
	CounterWebhookFailure = "webhook_failures"
)

// Increment adds n to a counter that must survive restarts.
func Increment(ctx context.Context, db *store.DB, name, label string, n int64) error {
	return store.RetryBusy(ctx, 0, func() error {
		_, err := db.ExecContext(ctx, `INSERT INTO counters (name, label, value) VALUES (?, ?, ?)
			ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value`, name, label, n)
		return err
	})
}

// Totals are the database's figures for /metrics.
type Totals struct {
	// Counters by name, then label.
	Counters map[string]map[string]int64
	// Events by kind (hard, soft, complaint, unsubscribe).
	Events       map[string]int64
	Suppressions int64
	Clicks       int64
}

// ReadTotals reads every figure /metrics shows from the database.
func ReadTotals(ctx context.Context, db *store.DB) (Totals, error) {
	t := Totals{Counters: map[string]map[string]int64{}, Events: map[string]int64{"hard": 0, "soft": 0, "complaint": 0, "unsubscribe": 0}}
	rows, err := db.QueryContext(ctx, `SELECT name, label, value FROM counters`)
	if err != nil {
		return t, err
	}
	for rows.Next() {
		var name, label string
		var v int64
		if err := rows.Scan(&name, &label, &v); err != nil {
			rows.Close()
			return t, err
		}
		if t.Counters[name] == nil {
			t.Counters[name] = map[string]int64{}
		}
		t.Counters[name][label] = v
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT kind, COUNT(*) FROM feedback_events GROUP BY kind`)
	if err != nil {
		return t, err
	}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return t, err
		}
		t.Events[k] = n
	}
	rows.Close()
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions`).Scan(&t.Suppressions); err != nil {
		return t, err
	}
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(clicks), 0) FROM story_clicks`).Scan(&t.Clicks)
	return t, err
}
