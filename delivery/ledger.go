package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
//	unknown   the whole message went out but no reply came (a timeout or
//	          a dropped connection after the final "."): the relay may
//	          have taken it, so only send --retry-unknown sends it again

// pending is one subscriber read for a run, with the ledger's view of it.
type pending struct {
	sub subscribers.Subscriber
	// status is the edition's ledger status, "" when there is no row.
	status string
	// bounces are the subscriber's permanent failures in a row so far.
	bounces int
	// prefs are the reader's choices on the list (sections, frequency,
	// pause), which pick their variant of the edition.
	prefs subscribers.Prefs
	// suppressed: the address is on the suppression list; never mailed.
	suppressed bool
}

// readPage returns up to limit active members of the list with id > after,
// in id order, with their ledger status for the edition. The members come
// from their owner (subscribers.ActiveMembers); the ledger's rows for the
// page are one range read of the (edition_id, subscriber_id) key, merged
// here in id order: two indexed reads per page instead of one join across
// the two packages' tables, at the same cost (see BenchmarkEngineVsRaw).
func readPage(ctx context.Context, db *store.DB, editionID, listID, after int64, limit int) ([]pending, error) {
	members, err := subscribers.ActiveMembers(ctx, db, listID, after, limit)
	if err != nil || len(members) == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT subscriber_id, status FROM deliveries
		WHERE edition_id = ? AND subscriber_id BETWEEN ? AND ? ORDER BY subscriber_id`,
		editionID, members[0].ID, members[len(members)-1].ID)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	defer rows.Close()
	out := make([]pending, len(members))
	for i, m := range members {
		out[i] = pending{sub: m.Subscriber, bounces: m.Bounces, prefs: m.Prefs, suppressed: m.Suppressed}
	}
	i := 0
	for rows.Next() {
		var id int64
		var status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, fmt.Errorf("read recipients: %w", err)
		}
		// Both sides are in id order; a ledger row of someone no longer
		// an active member is skipped.
		for i < len(out) && out[i].sub.ID < id {
			i++
		}
		if i < len(out) && out[i].sub.ID == id {
			out[i].status = status
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return out, nil
}

// countPending counts the active members a run will attempt, for the
// progress bar's total: those without a settled row for the edition (sent
// always; deferred, failed and unknown unless the run retries them).
func countPending(ctx context.Context, db *store.DB, editionID, listID int64, retryDeferred, retryFailed, retryUnknown bool) (int, error) {
	settled := []string{StatusSent}
	for _, s := range []struct {
		status string
		retry  bool
	}{{StatusDeferred, retryDeferred}, {StatusFailed, retryFailed}, {StatusUnknown, retryUnknown}} {
		if !s.retry {
			settled = append(settled, s.status)
		}
	}
	return subscribers.CountActiveUnsettled(ctx, db, listID, editionID, settled)
}

// ledgerOp is one change for the writer; ack receives the commit's result.
type ledgerOp struct {
	// queue lists subscribers to mark queued (rows created, or deferred
	// ones taken up again); when nil the op records an outcome.
	queue []int64

	sub      int64
	status   string // queued (a retry will follow), sent, deferred, failed, unknown
	next     int64  // next_attempt_at, 0 for none
	msgID    string
	code     int
	reply    string
	bounce   bool // a permanent refusal of the address
	clearBnc bool // the subscriber had failures that a success clears
	email    string
	// relay names the relay of the attempt (Relay.Name), "" for the
	// outbox.
	relay string
	// drop deletes the queued row of a subscriber who left the list
	// (unsubscribed, erased) before the message was handed over.
	drop bool

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
	// A worker that must wait for a commit signals urgent. The writer
	// gathers outcomes until every worker has one in the batch, or every
	// worker waits, or linger has passed: then all workers share one
	// commit (one fsync) instead of one each, and none waits longer than
	// it must.
	urgent  chan struct{}
	waiting atomic.Int32
	workers int
	linger  time.Duration
	// Statements prepared once on conn for the whole run.
	queueStmt, outcomeStmt, beginStmt, commitStmt *sql.Stmt
	outcomes                                      []outcomeJSON
	// onCommit runs after each commit with the ops it made durable.
	onCommit func(batch []ledgerOp, bounced []ledgerOp)

	mu  sync.Mutex
	err error
}

// LedgerRetry is how long a ledger commit that finds the database locked
// is tried again before the run stops (each try waits up to the busy
// timeout).
const LedgerRetry = 2 * time.Minute

// maxBatch bounds one transaction.
const maxBatch = 512

func newLedgerWriter(ctx context.Context, db *store.DB, editionID int64, workers, bounceLimit int, sync string, now func() int64) (*ledgerWriter, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// FULL makes each commit durable against power loss too (WAL with
	// NORMAL only survives a crash of the process): a message recorded as
	// sent must stay recorded. Group commit keeps the fsyncs few.
	mode := "FULL"
	if sync == LedgerSyncNormal {
		mode = "NORMAL"
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = `+mode); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	w := &ledgerWriter{
		db: db, conn: conn, editionID: editionID, bounceLimit: bounceLimit, now: now,
		ops: make(chan ledgerOp, 256), done: make(chan struct{}),
		urgent: make(chan struct{}, 1), workers: workers, linger: 2 * time.Millisecond,
	}
	// One statement marks a whole page queued: the ids come as a JSON
	// array. Here and in the outcome statement a subscriber erased since
	// the page was read (subscribers remove, mid-send) is left out: the
	// erasure deleted their rows, and a new row would break the foreign
	// key and stop the run. (That EXISTS is the ledger's only read of
	// subscribers, a table subscribers owns: it must sit in the same
	// statement as the write, or an erasure could slip between a check
	// and the insert.) A deferred, failed or unknown row taken up
	// again (--retry-deferred, --retry-failed, --retry-unknown: the
	// producer only lists those) becomes queued; a sent row is never
	// touched.
	if w.queueStmt, err = conn.PrepareContext(ctx, `
		INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, updated_at)
		SELECT ?, j.value, 'queued', 0, ? FROM json_each(?) AS j WHERE EXISTS (SELECT 1 FROM subscribers s WHERE s.id = j.value)
		ON CONFLICT (edition_id, subscriber_id) DO UPDATE SET status = 'queued', updated_at = excluded.updated_at
		WHERE deliveries.status IN ('deferred', 'failed', 'unknown')`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if w.beginStmt, err = conn.PrepareContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if w.commitStmt, err = conn.PrepareContext(ctx, `COMMIT`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// Outcomes as an upsert driven by the JSON rows, so that each one
	// is found through the (edition_id, subscriber_id) key; only queued
	// rows change, so a recorded outcome is never overwritten.
	if w.outcomeStmt, err = conn.PrepareContext(ctx, `
		INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, next_attempt_at, message_id, last_code, last_reply, relay, updated_at)
		SELECT ?3, j.value ->> 'sub', j.value ->> 'st', 1, j.value ->> 'nx', j.value ->> 'id', j.value ->> 'c', j.value ->> 'r', COALESCE(j.value ->> 'rl', ''), ?2
		FROM json_each(?1) AS j WHERE EXISTS (SELECT 1 FROM subscribers s WHERE s.id = j.value ->> 'sub')
		ON CONFLICT (edition_id, subscriber_id) DO UPDATE SET status = excluded.status, attempts = deliveries.attempts + 1,
			next_attempt_at = excluded.next_attempt_at, message_id = excluded.message_id,
			last_code = excluded.last_code, last_reply = excluded.last_reply, relay = excluded.relay, updated_at = excluded.updated_at
		WHERE deliveries.status = 'queued'`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return w, nil
}

// submit hands an op to the writer; the result arrives on op.ack.
func (w *ledgerWriter) submit(op ledgerOp) { w.ops <- op }

// wait blocks a worker until ack delivers the commit's result; the last
// worker to wait asks the writer to commit at once.
func (w *ledgerWriter) wait(ack <-chan error) error {
	select {
	case err := <-ack:
		return err
	default:
	}
	if int(w.waiting.Add(1)) >= w.workers {
		// Everyone waits: nothing more can come, commit now.
		select {
		case w.urgent <- struct{}{}:
		default:
		}
	}
	defer w.waiting.Add(-1)
	return <-ack
}

// close flushes every submitted op and releases the connection.
func (w *ledgerWriter) close() error {
	close(w.ops)
	<-w.done
	ctx := context.Background()
	for _, st := range []*sql.Stmt{w.queueStmt, w.outcomeStmt, w.beginStmt, w.commitStmt} {
		st.Close()
	}
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
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for op := range w.ops {
		batch = append(batch[:0], op)
		outcomes := 0
		if op.queue == nil {
			outcomes++
		}
		// Gather until every worker has an outcome in the batch, someone
		// waits, or linger passed; a page to queue goes at once (the
		// producer waits for it).
		timer.Reset(w.linger)
	gather:
		for op.queue == nil && outcomes < w.workers && len(batch) < maxBatch {
			select {
			case next, ok := <-w.ops:
				if !ok {
					break gather
				}
				batch = append(batch, next)
				if next.queue != nil {
					break gather
				}
				outcomes++
			case <-w.urgent:
				break gather
			case <-timer.C:
				break gather
			}
		}
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
			// A long write elsewhere (an import batch, an erasure's
			// checkpoint) can hold the lock past the busy timeout: wait
			// for it a bounded time rather than stop the run.
			err = store.RetryBusy(context.Background(), LedgerRetry, func() error {
				var err error
				bounced, err = w.commit(batch)
				return err
			})
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

// commit writes a batch and returns the outcomes that made their
// subscriber bounced. All outcomes of the batch go in one INSERT ... ON
// CONFLICT DO UPDATE (they travel as a JSON array; a row already queued
// is updated, a missing one inserted), so a batch that only records
// outcomes is one statement in SQLite's implicit transaction; pages to queue and bounce
// bookkeeping add an explicit transaction around it. The statements are
// prepared once per run on the writer's own connection: with SQLite in
// pure Go, statement overhead, not I/O, is what a commit costs.
func (w *ledgerWriter) commit(batch []ledgerOp) (bounced []ledgerOp, err error) {
	// The writer finishes its work even when the run is being stopped:
	// an accepted message must be recorded.
	ctx := context.Background()
	now := w.now()
	explicit := false
	outcomes := w.outcomes[:0]
	for _, op := range batch {
		if op.queue != nil || op.clearBnc || op.bounce || op.drop {
			explicit = true
		}
		if op.queue == nil && !op.drop {
			outcomes = append(outcomes, outcomeJSON{Sub: op.sub, Status: op.status, Next: op.next, MsgID: op.msgID, Code: op.code, Reply: op.reply, Relay: op.relay})
		}
	}
	w.outcomes = outcomes
	if explicit {
		if _, err := w.beginStmt.ExecContext(ctx); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				w.conn.ExecContext(ctx, `ROLLBACK`)
			}
		}()
	}
	for _, op := range batch {
		if op.queue != nil {
			ids, _ := json.Marshal(op.queue)
			if _, err := w.queueStmt.ExecContext(ctx, w.editionID, now, string(ids)); err != nil {
				return nil, err
			}
		}
		if op.drop {
			if _, err := w.conn.ExecContext(ctx, `DELETE FROM deliveries WHERE edition_id = ? AND subscriber_id = ? AND status = 'queued'`,
				w.editionID, op.sub); err != nil {
				return nil, err
			}
		}
	}
	if len(outcomes) > 0 {
		list, err := json.Marshal(outcomes)
		if err != nil {
			return nil, err
		}
		if _, err := w.outcomeStmt.ExecContext(ctx, string(list), now, w.editionID); err != nil {
			return nil, err
		}
	}
	if !explicit {
		return nil, nil
	}
	for _, op := range batch {
		switch {
		case op.status == StatusSent && op.clearBnc:
			if err := subscribers.ClearPermanentFailures(ctx, w.conn, op.sub); err != nil {
				return nil, err
			}
		case op.status == StatusFailed && op.bounce:
			b, err := subscribers.RecordPermanentFailure(ctx, w.conn, op.sub, w.bounceLimit, op.code, op.reply, now)
			if err != nil {
				return nil, err
			}
			if b {
				bounced = append(bounced, op)
			}
		}
	}
	_, err = w.commitStmt.ExecContext(ctx)
	return bounced, err
}

// outcomeJSON is one outcome as the outcome statement reads it.
type outcomeJSON struct {
	Sub    int64  `json:"sub"`
	Status string `json:"st"`
	Next   int64  `json:"nx,omitempty"`
	MsgID  string `json:"id"`
	Code   int    `json:"c"`
	Reply  string `json:"r"`
	Relay  string `json:"rl,omitempty"`
}

// Record is one row of the ledger as `digest deliveries` shows it.
type Record struct {
	EditionID     int64      `json:"edition_id"`
	Date          string     `json:"date"`
	List          string     `json:"list"`
	Email         string     `json:"email"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	MessageID     string     `json:"message_id,omitempty"`
	LastCode      int        `json:"last_code,omitempty"`
	LastReply     string     `json:"last_reply,omitempty"`
	// Relay is the relay of the last attempt (host:port), the one that
	// accepted the message when it was sent; empty for the outbox.
	Relay     string    `json:"relay,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Filter narrows the ledger; zero fields do not filter.
type Filter struct {
	ListID    int64
	EditionID int64
	Status    string
}

// Statuses are the ledger's statuses, in the order a delivery goes.
var Statuses = []string{StatusQueued, StatusSent, StatusDeferred, StatusFailed, StatusUnknown}

// EachRecord streams the ledger rows that match f, newest edition first,
// then in the order they were queued.
func EachRecord(ctx context.Context, db *store.DB, f Filter, fn func(Record) error) error {
	// The conditions are fixed strings; only the values are parameters.
	var where []string
	var args []any
	if f.ListID != 0 {
		where, args = append(where, "e.list_id = ?"), append(args, f.ListID)
	}
	if f.EditionID != 0 {
		where, args = append(where, "d.edition_id = ?"), append(args, f.EditionID)
	}
	if f.Status != "" {
		where, args = append(where, "d.status = ?"), append(args, f.Status)
	}
	// The listing joins the ledger (the driving table, owned here) with
	// the edition's date (digest), the list's name and the address
	// (subscribers): a streamed listing of any size, where asking each
	// owner per row would be one query per delivery.
	q := `SELECT d.edition_id, e.date, l.name, s.email, d.status, d.attempts, d.next_attempt_at,
			d.message_id, d.last_code, d.last_reply, d.relay, d.updated_at
		FROM deliveries d
		JOIN editions e ON e.id = d.edition_id
		JOIN lists l ON l.id = e.list_id
		JOIN subscribers s ON s.id = d.subscriber_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.QueryContext(ctx, q+" ORDER BY d.edition_id DESC, d.id", args...)
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Record
		var next sql.NullInt64
		var updated int64
		if err := rows.Scan(&r.EditionID, &r.Date, &r.List, &r.Email, &r.Status, &r.Attempts, &next,
			&r.MessageID, &r.LastCode, &r.LastReply, &r.Relay, &updated); err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		if next.Valid {
			t := time.Unix(next.Int64, 0).UTC()
			r.NextAttemptAt = &t
		}
		r.UpdatedAt = time.Unix(updated, 0).UTC()
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SubscriberDeliveries returns the subscriber's most recent ledger rows,
// newest first, at most limit, for `digest subscribers show`. Like
// EachRecord it joins the ledger with the edition and the list for their
// date, subject and name.
func SubscriberDeliveries(ctx context.Context, q store.Querier, subscriberID int64, limit int) ([]subscribers.DeliveryRecord, error) {
	rows, err := q.QueryContext(ctx, `SELECT l.name, e.date, e.subject, d.status, d.attempts, d.message_id, d.last_reply, d.updated_at
		FROM deliveries d JOIN editions e ON e.id = d.edition_id JOIN lists l ON l.id = e.list_id
		WHERE d.subscriber_id = ? ORDER BY d.updated_at DESC, d.id DESC LIMIT ?`, subscriberID, limit)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	out := []subscribers.DeliveryRecord{}
	for rows.Next() {
		var r subscribers.DeliveryRecord
		var at int64
		if err := rows.Scan(&r.List, &r.Date, &r.Subject, &r.Status, &r.Attempts, &r.MessageID, &r.Reply, &at); err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		r.UpdatedAt = time.Unix(at, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountForSubscriber counts the subscriber's ledger rows (of every list),
// what an erasure removes with them.
func CountForSubscriber(ctx context.Context, q store.Querier, subscriberID int64) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE subscriber_id = ?`, subscriberID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}
