package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/store"
)

// lockedDB opens a database whose write lock another connection holds
// (BEGIN IMMEDIATE, as a long write elsewhere would), and a second
// connection that gives up on the lock after 20 ms instead of 10 s.
func lockedDB(t *testing.T) (holder, writer *sql.Conn) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if holder, err = db.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })
	if writer, err = db.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	if _, err := writer.ExecContext(ctx, `PRAGMA busy_timeout = 20`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	return holder, writer
}

// A write that meets a lock held past its busy timeout is tried again
// instead of failing, and succeeds once the lock is released.
func TestRetryBusyWaitsOutALongWriter(t *testing.T) {
	ctx := context.Background()
	holder, writer := lockedDB(t)
	var tries atomic.Int32
	err := store.RetryBusy(ctx, time.Minute, func() error {
		if tries.Add(1) == 3 {
			// Two tries failed with "database is locked": the long
			// writer ends now.
			if _, err := holder.ExecContext(ctx, `COMMIT`); err != nil {
				t.Fatal(err)
			}
		}
		_, err := writer.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		if tries.Load() < 3 && !store.IsBusy(err) {
			t.Errorf("try %d while locked: %v, want a busy error", tries.Load(), err)
		}
		return err
	})
	if err != nil || tries.Load() != 3 {
		t.Fatalf("after %d tries: %v, want the write done on the third", tries.Load(), err)
	}
	var n int
	if err := writer.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want the one write", n, err)
	}
}

// The retries are bounded: a lock never released ends them with the busy
// error, and an error that is not about the lock is not retried at all.
func TestRetryBusyIsBounded(t *testing.T) {
	ctx := context.Background()
	_, writer := lockedDB(t)
	var tries int
	err := store.RetryBusy(ctx, 100*time.Millisecond, func() error {
		tries++
		_, err := writer.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		return err
	})
	if !store.IsBusy(err) || tries < 2 {
		t.Fatalf("after %d tries: %v, want a busy error after more than one", tries, err)
	}
	tries = 0
	err = store.RetryBusy(ctx, time.Minute, func() error {
		tries++
		_, err := writer.ExecContext(ctx, `INSERT INTO missing VALUES (1)`)
		return err
	})
	if err == nil || store.IsBusy(err) || tries != 1 {
		t.Fatalf("after %d tries: %v, want one try and its error", tries, err)
	}
}
