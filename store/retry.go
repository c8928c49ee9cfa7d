package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsBusy reports an error of a write that could not get the database's
// write lock (SQLITE_BUSY, SQLITE_LOCKED): another writer held it past
// the busy timeout. Trying again later may succeed.
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	return strings.Contains(err.Error(), "database is locked")
}

// RetryBusy runs fn until it returns an error that is not IsBusy, or
// until within has passed since the first try (each try itself waits up
// to the connection's busy timeout). Writes that must not fail because
// a long transaction elsewhere held the lock (ledger, unsubscribes,
// leases) go through it: they wait a bounded time, then fail with the
// last error.
func RetryBusy(ctx context.Context, within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if !IsBusy(err) || !time.Now().Before(deadline) {
			return err
		}
		d := wait/2 + rand.N(wait)
		if rest := time.Until(deadline); d > rest {
			d = rest
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		wait = min(wait*2, time.Second)
	}
}

// IsUnique reports an insert refused by a UNIQUE constraint: another
// writer stored the same key first.
func IsUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
