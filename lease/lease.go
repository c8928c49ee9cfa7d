// Package lease gives one process at a time the right to do something to
// a database: a row in the leases table names the holder (process id and
// host), renewed by a heartbeat while the work runs and taken over by
// another process once it has expired, or at once when the holder is a
// process on this host that no longer exists. digest serve holds one to
// decide which daemon fires the schedules, and every delivery run, from
// digest send or digest serve, holds one per list, so two senders never
// work on the same list at the same time.
package lease

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/store"
)

// DefaultTTL is how long a lease lasts without renewal. A holder renews
// it every third of that; a holder killed on another host is taken over
// this long after its last renewal.
const DefaultTTL = 30 * time.Second

// ErrLost is the cause of a held lease's context when the lease was
// taken by another process or could not be renewed before it expired.
var ErrLost = errors.New("lease lost")

// Lease is one named lease as seen by one would-be holder.
type Lease struct {
	DB *store.DB
	// Name identifies what the lease guards ("scheduler", "send/list/1").
	Name string
	// Holder is shown to others, e.g. "1234@host"; Token tells holders
	// with the same Holder apart. Both must match for a renewal.
	Holder, Token string
	// PID and Host name the holder's process, so that a process on the
	// same host can tell that the holder is gone.
	PID  int
	Host string
	// Note says what the holder does, e.g. "edition 4 of daily".
	Note string
	TTL  time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New is a lease held by this process: holder pid@host, a random token,
// DefaultTTL unless ttl is positive.
func New(db *store.DB, name string, ttl time.Duration) *Lease {
	host, _ := os.Hostname()
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Lease{DB: db, Name: name, Holder: fmt.Sprintf("%d@%s", os.Getpid(), host), Token: NewToken(),
		PID: os.Getpid(), Host: host, TTL: ttl}
}

// NewToken is a random token for Lease.Token.
func NewToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *Lease) now() time.Time { return clock.Now(l.Now) }

// Info is a lease row: who holds it, since when, until when, for what.
type Info struct {
	Name, Holder, Token string
	PID                 int
	Host                string
	Since, Expires      time.Time
	Note                string
}

// Who is the holder as an operator reads it: "pid 1234 on host x".
func (i Info) Who() string {
	if i.PID > 0 && i.Host != "" {
		return fmt.Sprintf("pid %d on host %s", i.PID, i.Host)
	}
	return i.Holder
}

// SinceText is the time the lease was taken, local clock time, with the
// date when that is not today.
func (i Info) SinceText(now time.Time) string {
	t := i.Since.Local()
	if y, m, d := t.Date(); y == now.Local().Year() && m == now.Local().Month() && d == now.Local().Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// Acquire takes the lease, or renews it when this holder has it, and
// returns whether it is held now and until when. One UPSERT decides, so
// two processes racing for a free lease cannot both win: SQLite
// serialises the writes and the second finds a live row that is not its
// own. A row whose holder is a process of this host that is gone counts
// as free: the lease of a killed send is taken over at once, not after
// the TTL. A renewal keeps the time the lease was first taken.
func (l *Lease) Acquire(ctx context.Context) (bool, time.Time, error) {
	now := l.now()
	expires := now.Add(l.ttl())
	dead, err := l.deadHolder(ctx, now)
	if err != nil {
		return false, time.Time{}, err
	}
	var n int64
	err = store.RetryBusy(ctx, l.ttl()/3, func() error {
		res, err := l.DB.ExecContext(ctx, `
			INSERT INTO leases (name, holder, token, pid, host, acquired_at, note, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, pid = excluded.pid, host = excluded.host,
				acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.token = excluded.token AND leases.expires_at > ?
					THEN leases.acquired_at ELSE excluded.acquired_at END,
				note = excluded.note, expires_at = excluded.expires_at, updated_at = excluded.updated_at
			WHERE (leases.holder = excluded.holder AND leases.token = excluded.token) OR leases.expires_at <= ?
				OR (leases.holder = ? AND leases.token = ?)`,
			l.Name, l.Holder, l.Token, l.PID, l.Host, now.UnixMilli(), l.Note, expires.UnixMilli(), now.UnixMilli(),
			now.UnixMilli(), now.UnixMilli(), dead.Holder, dead.Token)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("lease %s: %w", l.Name, err)
	}
	return n == 1, expires, nil
}

func (l *Lease) ttl() time.Duration {
	if l.TTL <= 0 {
		return DefaultTTL
	}
	return l.TTL
}

// deadHolder returns the current row when its holder is a process of this
// host that no longer runs (and is not us), so Acquire may take it over;
// otherwise an Info that matches no row.
func (l *Lease) deadHolder(ctx context.Context, now time.Time) (Info, error) {
	cur, ok, err := l.Current(ctx)
	if err != nil || !ok {
		return Info{Holder: "\x00"}, err
	}
	host, _ := os.Hostname()
	if cur.Host == host && cur.PID > 0 && cur.PID != os.Getpid() && !processAlive(cur.PID) {
		return cur, nil
	}
	return Info{Holder: "\x00"}, nil
}

// Current returns the lease's row when someone holds it now.
func (l *Lease) Current(ctx context.Context) (Info, bool, error) {
	now := l.now()
	var i Info
	var since, expires int64
	err := l.DB.QueryRowContext(ctx, `SELECT name, holder, token, pid, host, acquired_at, expires_at, note FROM leases
		WHERE name = ? AND expires_at > ?`, l.Name, now.UnixMilli()).
		Scan(&i.Name, &i.Holder, &i.Token, &i.PID, &i.Host, &since, &expires, &i.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return Info{}, false, nil
	}
	if err != nil {
		return Info{}, false, fmt.Errorf("lease %s: %w", l.Name, err)
	}
	i.Since, i.Expires = time.UnixMilli(since), time.UnixMilli(expires)
	return i, true, nil
}

// SetNote changes what the held lease says its holder does.
func (l *Lease) SetNote(ctx context.Context, note string) error {
	l.Note = note
	err := store.RetryBusy(ctx, l.ttl()/3, func() error {
		_, err := l.DB.ExecContext(ctx, `UPDATE leases SET note = ? WHERE name = ? AND holder = ? AND token = ?`, note, l.Name, l.Holder, l.Token)
		return err
	})
	if err != nil {
		return fmt.Errorf("lease %s: %w", l.Name, err)
	}
	return nil
}

// Release gives the lease up, so the next process takes it at once
// instead of waiting for the expiry.
func (l *Lease) Release(ctx context.Context) error {
	err := store.RetryBusy(ctx, l.ttl()/3, func() error {
		_, err := l.DB.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ? AND token = ?`, l.Name, l.Holder, l.Token)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}

// BusyError reports a lease another process holds.
type BusyError struct {
	Info
	At time.Time
}

func (e *BusyError) Error() string {
	what := e.Note
	if what == "" {
		what = strings.TrimSpace(e.Name)
	}
	return fmt.Sprintf("%s is held by %s since %s", what, e.Who(), e.SinceText(e.At))
}

// Held is a lease this process holds, kept alive by a heartbeat until
// Release.
type Held struct {
	l      *Lease
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
}

// pollEvery is how often a waiting Hold tries again.
const pollEvery = 250 * time.Millisecond

// Hold takes the lease and starts its heartbeat. When another process
// holds it, Hold returns a *BusyError at once, or with wait set calls
// onWait once with the holder and tries again until the lease is free
// (or ctx ends).
func Hold(ctx context.Context, l *Lease, wait bool, onWait func(Info)) (*Held, error) {
	waited := false
	for {
		ok, expires, err := l.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			return l.heartbeat(ctx, expires), nil
		}
		cur, held, err := l.Current(ctx)
		if err != nil {
			return nil, err
		}
		if held && !wait {
			return nil, &BusyError{Info: cur, At: l.now()}
		}
		if held && !waited && onWait != nil {
			onWait(cur)
			waited = true
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(pollEvery):
		}
	}
}

func (l *Lease) heartbeat(parent context.Context, expires time.Time) *Held {
	ctx, cancel := context.WithCancelCause(parent)
	h := &Held{l: l, ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(l.ttl() / 3)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ok, exp, err := l.Acquire(context.WithoutCancel(ctx))
			switch {
			case err == nil && ok:
				expires = exp
			case err == nil:
				cancel(fmt.Errorf("%w: another process took %s over", ErrLost, l.Name))
				return
			case !l.now().Before(expires.Add(-l.ttl() / 3)):
				// Stop while the lease is surely still ours, before
				// another process may take it.
				cancel(fmt.Errorf("%w: %s could not be renewed in time: %v", ErrLost, l.Name, err))
				return
			}
		}
	}()
	return h
}

// Context is cancelled, with cause ErrLost, when the lease is lost, and
// when the context Hold was given ends.
func (h *Held) Context() context.Context { return h.ctx }

// Lease is the held lease (to change its note).
func (h *Held) Lease() *Lease { return h.l }

// Release stops the heartbeat and gives the lease up.
func (h *Held) Release() error {
	close(h.stop)
	<-h.done
	err := h.l.Release(context.Background())
	h.cancel(context.Canceled)
	return err
}
