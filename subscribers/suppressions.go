package subscribers

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
)

// Suppression reasons: why an address must never be mailed.
const (
	SuppressComplaint  = "complaint"
	SuppressHardBounce = "hard-bounce"
	SuppressManual     = "manual"
	SuppressLegal      = "legal"
	SuppressImport     = "import"
)

// ErrSuppressed reports an address on the suppression list: it is not
// signed up or imported as active, and no send mails it.
var ErrSuppressed = errors.New("address is on the suppression list")

// Suppression is one address that must never be mailed.
type Suppression struct {
	Email     string    `json:"email"`
	Reason    string    `json:"reason"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidSuppressReason reports whether r is a suppression reason.
func ValidSuppressReason(r string) bool {
	switch r {
	case SuppressComplaint, SuppressHardBounce, SuppressManual, SuppressLegal, SuppressImport:
		return true
	}
	return false
}

// Suppress adds the address to the suppression list (a second call keeps
// the first reason) and reports whether it was new.
func Suppress(ctx context.Context, q store.Querier, email, reason, note string, now time.Time) (bool, error) {
	addr, err := NormalizeAddress(email)
	if err != nil {
		return false, err
	}
	if !ValidSuppressReason(reason) {
		return false, fmt.Errorf("reason %q: use complaint, hard-bounce, manual, legal or import", clip(reason))
	}
	res, err := q.ExecContext(ctx, `INSERT INTO suppressions (email, reason, note, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (email) DO NOTHING`, addr, reason, CleanName(note), now.Unix())
	if err != nil {
		return false, fmt.Errorf("suppress: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Suppress adds an address to the suppression list.
func (s *Store) Suppress(ctx context.Context, email, reason, note string) (bool, error) {
	return Suppress(ctx, s.DB, email, reason, note, s.now())
}

// Unsuppress removes the address from the suppression list and reports
// whether it was there. Memberships are not changed: a bounced or
// unsubscribed member stays so until resubscribed.
func (s *Store) Unsuppress(ctx context.Context, email string) (bool, error) {
	addr, err := NormalizeAddress(email)
	if err != nil {
		return false, err
	}
	res, err := s.DB.ExecContext(ctx, `DELETE FROM suppressions WHERE email = ?`, addr)
	if err != nil {
		return false, fmt.Errorf("unsuppress: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// IsSuppressed reports whether the address is on the suppression list.
func IsSuppressed(ctx context.Context, q store.Querier, email string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = ?)`, strings.TrimSpace(email)).Scan(&ok)
	return ok, err
}

// Suppressions calls fn for every suppressed address, oldest first.
func (s *Store) Suppressions(ctx context.Context, fn func(Suppression) error) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT email, reason, note, created_at FROM suppressions ORDER BY created_at, email`)
	if err != nil {
		return fmt.Errorf("read suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Suppression
		var at int64
		if err := rows.Scan(&x.Email, &x.Reason, &x.Note, &at); err != nil {
			return err
		}
		x.CreatedAt = time.Unix(at, 0).UTC()
		if err := fn(x); err != nil {
			return err
		}
	}
	return rows.Err()
}

// suppressedSet holds every suppressed address folded as the store
// compares them, for an import to refuse rows against.
func (s *Store) suppressedSet(ctx context.Context) (map[string]bool, error) {
	set := map[string]bool{}
	err := s.Suppressions(ctx, func(x Suppression) error {
		set[foldKey(x.Email)] = true
		return nil
	})
	return set, err
}

// SuppressionImport counts what ImportSuppressions did.
type SuppressionImport struct {
	Added    int `json:"added"`
	Already  int `json:"already"`
	Rejected int `json:"rejected"`
}

// ImportSuppressions reads addresses, one per line or as the first column
// of a CSV file (a header row naming "email" is skipped), and suppresses
// each with the reason. A bad address is reported through reject with
// its line number and skipped; the rest are written in one transaction.
func (s *Store) ImportSuppressions(ctx context.Context, in io.Reader, reason string, reject func(line int, reason string)) (SuppressionImport, error) {
	var sum SuppressionImport
	if !ValidSuppressReason(reason) {
		return sum, fmt.Errorf("reason %q: use complaint, hard-bounce, manual, legal or import", clip(reason))
	}
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	now := s.now()
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		line := 0
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("import suppressions: %w", err)
			}
			line++
			if len(rec) == 0 || strings.TrimSpace(rec[0]) == "" {
				continue
			}
			cell := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))
			if line == 1 && !strings.Contains(cell, "@") {
				continue // a header row
			}
			added, err := Suppress(ctx, tx, cell, reason, "", now)
			switch {
			case err != nil && !strings.HasPrefix(err.Error(), "suppress:"):
				sum.Rejected++
				reject(line, err.Error())
			case err != nil:
				return err
			case added:
				sum.Added++
			default:
				sum.Already++
			}
		}
	})
	return sum, err
}
