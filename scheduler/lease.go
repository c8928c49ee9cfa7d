package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// leaseName is the one lease all serve processes on a database compete for.
const leaseName = "scheduler"

// lease is a row in the leases table that names the one process allowed to
// send. The holder renews it well before it expires; another process can
// take it only once it has expired, so two processes never hold it at the
// same time as long as their clocks agree to within the lease's length.
type lease struct {
	db     *store.DB
	holder string
	ttl    time.Duration
}

// acquire takes the lease, or renews it when this holder has it, and
// returns whether it is held now and until when. A single UPSERT decides,
// so two processes racing for an expired lease cannot both win: SQLite
// serialises the writes and the second one finds an unexpired row that
// is not its own.
func (l *lease) acquire(ctx context.Context, now time.Time) (bool, time.Time, error) {
	expires := now.Add(l.ttl)
	res, err := l.db.ExecContext(ctx, `
		INSERT INTO leases (name, holder, expires_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, updated_at = excluded.updated_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		leaseName, l.holder, expires.UnixMilli(), now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, time.Time{}, fmt.Errorf("lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("lease: %w", err)
	}
	return n == 1, expires, nil
}

// holderNow returns who holds the lease at now, or "" when nobody does.
func (l *lease) holderNow(ctx context.Context, now time.Time) (string, error) {
	var holder string
	err := l.db.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ? AND expires_at > ?`, leaseName, now.UnixMilli()).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease: %w", err)
	}
	return holder, nil
}

// release gives the lease up at shutdown, so a standby takes over at its
// next try instead of waiting for the expiry.
func (l *lease) release(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, leaseName, l.holder)
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}
