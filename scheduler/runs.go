package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/store"
)

// Run outcomes in schedule_runs. sent, nothing_new and skipped settle a
// date; running and interrupted are resumed by catch-up within the grace
// period; failed, and deferred (delivered but for recipients whose relay
// asked to try later), are retried after RetryAfter within the grace
// period, so a temporary refusal never silently drops anyone.
const (
	OutcomeRunning     = "running"
	OutcomeSent        = "sent"
	OutcomeNothingNew  = "nothing_new"
	OutcomeSkipped     = "skipped"
	OutcomeInterrupted = "interrupted"
	OutcomeFailed      = "failed"
	OutcomeDeferred    = "deferred"
)

// Run is one scheduled run of a list for a local date.
type Run struct {
	ListID     int64
	Date       string
	FireAt     time.Time
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Outcome    string
	EditionID  int64
	Sent       int
	Deferred   int
	Failed     int
	Error      string
	Holder     string
}

// settled reports whether the run's date needs nothing more.
func (r Run) settled() bool {
	switch r.Outcome {
	case OutcomeSent, OutcomeNothingNew, OutcomeSkipped:
		return true
	}
	return false
}

// runs reads and writes schedule_runs.
type runs struct{ db *store.DB }

// get returns the run of the list for the date; ok is false when there is
// none.
func (r runs) get(ctx context.Context, listID int64, date string) (run Run, ok bool, err error) {
	var fire, started int64
	var finished, edition sql.NullInt64
	err = r.db.QueryRowContext(ctx, `SELECT list_id, date, fire_at, started_at, finished_at, outcome, edition_id, sent, deferred, failed, error, holder
		FROM schedule_runs WHERE list_id = ? AND date = ?`, listID, date).
		Scan(&run.ListID, &run.Date, &fire, &started, &finished, &run.Outcome, &edition, &run.Sent, &run.Deferred, &run.Failed, &run.Error, &run.Holder)
	if errors.Is(err, sql.ErrNoRows) {
		return run, false, nil
	}
	if err != nil {
		return run, false, fmt.Errorf("read run: %w", err)
	}
	run.FireAt, run.StartedAt = time.Unix(fire, 0).UTC(), time.Unix(started, 0).UTC()
	if finished.Valid {
		run.FinishedAt = time.Unix(finished.Int64, 0).UTC()
	}
	run.EditionID = edition.Int64
	return run, true, nil
}

// start records that the run of the list for the date begins (again).
func (r runs) start(ctx context.Context, listID int64, date string, fire, now time.Time, holder string) error {
	_, err := r.db.ExecContext(ctx, `
		INSERT INTO schedule_runs (list_id, date, fire_at, started_at, outcome, holder) VALUES (?, ?, ?, ?, 'running', ?)
		ON CONFLICT (list_id, date) DO UPDATE SET fire_at = excluded.fire_at, started_at = excluded.started_at,
			finished_at = NULL, outcome = 'running', error = '', holder = excluded.holder`,
		listID, date, fire.Unix(), now.Unix(), holder)
	if err != nil {
		return fmt.Errorf("record run start: %w", err)
	}
	return nil
}

// finish records how the run ended. sent and failed add up over resumed
// runs, so the row tells what the date's runs did in all; deferred is what
// the latest run left for a later attempt.
func (r runs) finish(ctx context.Context, listID int64, date, outcome string, editionID int64, sum delivery.Summary, errText string, now time.Time) error {
	var edition any
	if editionID != 0 {
		edition = editionID
	}
	_, err := r.db.ExecContext(ctx, `UPDATE schedule_runs SET finished_at = ?, outcome = ?, edition_id = COALESCE(?, edition_id),
		sent = sent + ?, deferred = ?, failed = failed + ?, error = ? WHERE list_id = ? AND date = ?`,
		now.Unix(), outcome, edition, sum.Sent, sum.Deferred, sum.Failed, errText, listID, date)
	if err != nil {
		return fmt.Errorf("record run end: %w", err)
	}
	return nil
}

// skip records a missed date that will not be sent.
func (r runs) skip(ctx context.Context, listID int64, date string, fire, now time.Time, holder, reason string) error {
	_, err := r.db.ExecContext(ctx, `
		INSERT INTO schedule_runs (list_id, date, fire_at, started_at, finished_at, outcome, error, holder) VALUES (?, ?, ?, ?, ?, 'skipped', ?, ?)
		ON CONFLICT (list_id, date) DO UPDATE SET finished_at = excluded.finished_at, outcome = 'skipped', error = excluded.error`,
		listID, date, fire.Unix(), now.Unix(), now.Unix(), reason, holder)
	if err != nil {
		return fmt.Errorf("record skipped run: %w", err)
	}
	return nil
}

// lastSuccesses returns, per list id, when its last run that ended
// without error (sent or nothing new) finished.
func (r runs) lastSuccesses(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT list_id, MAX(finished_at) FROM schedule_runs
		WHERE outcome IN ('sent', 'nothing_new') AND finished_at IS NOT NULL GROUP BY list_id`)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id, t int64
		if err := rows.Scan(&id, &t); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		out[id] = time.Unix(t, 0).UTC()
	}
	return out, rows.Err()
}

// Runs returns the scheduled runs of a list, newest date first: what the
// daemon did, for tests and for operators reading the database.
func Runs(ctx context.Context, db *store.DB, listID int64) ([]Run, error) {
	rows, err := db.QueryContext(ctx, `SELECT date FROM schedule_runs WHERE list_id = ? ORDER BY date DESC`, listID)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	var dates []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read runs: %w", err)
		}
		dates = append(dates, d)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	out := make([]Run, 0, len(dates))
	for _, d := range dates {
		r, _, err := runs{db}.get(ctx, listID, d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
