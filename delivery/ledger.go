package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// The ledger is the deliveries table: one row per edition and subscriber,
// written by a single goroutine (ledgerWriter) in batched transactions.
//
//	queued    written before the message is handed to a worker; a run
//	          that dies leaves it so, and the next run sends it
//	sent      only after the server accepted the message
//	deferred  4xx or network errors on every attempt of a run; waits for
//	          send --retry-deferred (next_attempt_at hints when)
//	failed    a 5xx reply: permanent

// pending is one subscriber read for a run, with the ledger's view of it.
type pending struct {
	sub subscribers.Subscriber
	// status is the edition's ledger status, "" when there is no row.
	status string
	// bounces are the subscriber's permanent failures in a row so far.
	bounces int
}

// readPage returns up to limit active members of the list with id > after,
// in id order, with their ledger status for the edition.
func readPage(ctx context.Context, db *store.DB, editionID, listID, after int64, limit int) ([]pending, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT s.id, s.email, s.name, s.token, COALESCE(d.status, ''), COALESCE(b.failures, 0)
		FROM memberships m
		JOIN subscribers s ON s.id = m.subscriber_id
		LEFT JOIN deliveries d ON d.edition_id = ? AND d.subscriber_id = m.subscriber_id
		LEFT JOIN subscriber_bounces b ON b.subscriber_id = m.subscriber_id
		WHERE m.list_id = ? AND m.status = 'active' AND m.subscriber_id > ?
		ORDER BY m.subscriber_id LIMIT ?`, editionID, listID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	defer rows.Close()
	out := make([]pending, 0, limit)
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.sub.ID, &p.sub.Email, &p.sub.Name, &p.sub.Token, &p.status, &p.bounces); err != nil {
			return nil, fmt.Errorf("read recipients: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return out, nil
}

// countPending counts the active members a run will attempt, for the
// progress bar's total.
func countPending(ctx context.Context, db *store.DB, editionID, listID int64, retryDeferred bool) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM memberships m
		LEFT JOIN deliveries d ON d.edition_id = ? AND d.subscriber_id = m.subscriber_id
		WHERE m.list_id = ? AND m.status = 'active'
		  AND (d.status IS NULL OR d.status = 'queued' OR (? AND d.status = 'deferred'))`,
		editionID, listID, retryDeferred).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}

// ledgerOp is one change for the writer; ack receives the commit's result.
type ledgerOp struct {
	// queue lists subscribers to mark queued (rows created, or deferred
	// ones taken up again); when nil the op records an outcome.
	queue []int64

	sub      int64
	status   string // queued (a retry will follow), sent, deferred, failed
	next     int64  // next_attempt_at, 0 for none
	msgID    string
	code     int
	reply    string
	bounce   bool // a permanent refusal of the address
	clearBnc bool // the subscriber had failures that a success clears
	email    string

	ack chan error
}

// ledgerWriter owns the write side of the ledger for one run. Outcomes of
// all workers are committed together (group commit): one transaction for
// whatever arrived while the previous one was being written.
type ledgerWriter struct {
	db          *store.DB
	conn        *sql.Conn
	editionID   int64
	bounceLimit int
	now         func() int64
	ops         chan ledgerOp
	done        chan struct{}
	// onCommit runs after each commit with the ops it made durable.
	onCommit func(batch []ledgerOp, bounced []ledgerOp)

	mu  sync.Mutex
	err error
}

// maxBatch bounds one transaction.
const maxBatch = 512

func newLedgerWriter(ctx context.Context, db *store.DB, editionID int64, bounceLimit int, now func() int64) (*ledgerWriter, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// FULL makes each commit durable against power loss too (WAL with
	// NORMAL only survives a crash of the process): a message recorded as
	// sent must stay recorded. Group commit keeps the fsyncs few.
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &ledgerWriter{
		db: db, conn: conn, editionID: editionID, bounceLimit: bounceLimit, now: now,
		ops: make(chan ledgerOp, 256), done: make(chan struct{}),
	}, nil
}

// submit hands an op to the writer; the result arrives on op.ack.
func (w *ledgerWriter) submit(op ledgerOp) { w.ops <- op }

// close flushes every submitted op and releases the connection.
func (w *ledgerWriter) close() error {
	close(w.ops)
	<-w.done
	ctx := context.Background()
	w.conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`)
	w.conn.Close()
	return w.failed()
}

func (w *ledgerWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *ledgerWriter) run() {
	defer close(w.done)
	batch := make([]ledgerOp, 0, maxBatch)
	for op := range w.ops {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		err := w.failed()
		var bounced []ledgerOp
		if err == nil {
			bounced, err = w.commit(batch)
			if err != nil {
				err = fmt.Errorf("write ledger: %w", err)
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
		if err == nil && w.onCommit != nil {
			w.onCommit(batch, bounced)
		}
		for _, op := range batch {
			if op.ack != nil {
				op.ack <- err
			}
		}
	}
}

// commit writes a batch in one transaction and returns the outcomes that
// made their subscriber bounced.
func (w *ledgerWriter) commit(batch []ledgerOp) (bounced []ledgerOp, err error) {
	// The writer finishes its work even when the run is being stopped:
	// an accepted message must be recorded.
	ctx := context.Background()
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := w.now()
	var queue, outcome *sql.Stmt
	for _, op := range batch {
		if op.queue != nil {
			if queue == nil {
				if queue, err = tx.PrepareContext(ctx, `
					INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, updated_at)
					VALUES (?, ?, 'queued', 0, ?)
					ON CONFLICT (edition_id, subscriber_id) DO UPDATE SET status = 'queued', updated_at = excluded.updated_at
					WHERE deliveries.status = 'deferred'`); err != nil {
					return nil, err
				}
				defer queue.Close()
			}
			for _, id := range op.queue {
				if _, err := queue.ExecContext(ctx, w.editionID, id, now); err != nil {
					return nil, err
				}
			}
			continue
		}
		if outcome == nil {
			if outcome, err = tx.PrepareContext(ctx, `
				UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
					message_id = ?, last_code = ?, last_reply = ?, updated_at = ?
				WHERE edition_id = ? AND subscriber_id = ? AND status = 'queued'`); err != nil {
				return nil, err
			}
			defer outcome.Close()
		}
		var next any
		if op.next != 0 {
			next = op.next
		}
		if _, err := outcome.ExecContext(ctx, op.status, next, op.msgID, op.code, op.reply, now, w.editionID, op.sub); err != nil {
			return nil, err
		}
		switch {
		case op.status == StatusSent && op.clearBnc:
			if err := subscribers.ClearPermanentFailures(ctx, tx, op.sub); err != nil {
				return nil, err
			}
		case op.status == StatusFailed && op.bounce:
			b, err := subscribers.RecordPermanentFailure(ctx, tx, op.sub, w.bounceLimit, op.code, op.reply, now)
			if err != nil {
				return nil, err
			}
			if b {
				bounced = append(bounced, op)
			}
		}
	}
	return bounced, tx.Commit()
}
