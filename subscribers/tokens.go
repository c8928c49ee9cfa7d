package subscribers

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// ErrUnknownToken reports an unsubscribe token that is malformed, matches
// no subscriber, or names a list the subscriber is not on. Callers show
// all three the same way, so a link reveals nothing about who exists.
var ErrUnknownToken = errors.New("unknown unsubscribe token")

// tokenPrefixLen is how much of a token the index lookup uses; the rest is
// compared in constant time. It matches the expression index of migration
// 0005 (substr(token, 1, 8)).
const tokenPrefixLen = 8

// Token length bounds: NewToken makes 43 characters; anything far outside
// is not a token and is refused before touching the database.
const (
	minTokenLen = 16
	maxTokenLen = 128
)

// ValidTokenFormat reports whether s looks like an unsubscribe token:
// 16 to 128 URL-safe base64 characters. The format is public, so refusing
// early leaks nothing.
func ValidTokenFormat(s string) bool {
	if len(s) < minTokenLen || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ByToken returns the subscriber whose unsubscribe token is token.
//
// Constant time: the row is found through an index on the token's first
// 8 characters (48 bits), and every candidate's full token is compared
// with crypto/subtle, without stopping at the first match. A timing
// attack on the index walk can at most learn a prefix, which leaves 208
// random bits to guess; the secret part is never compared byte by byte
// with an early exit.
func (s *Store) ByToken(ctx context.Context, token string) (Subscriber, error) {
	return byToken(ctx, s.DB, token)
}

func byToken(ctx context.Context, q store.Querier, token string) (Subscriber, error) {
	if !ValidTokenFormat(token) {
		return Subscriber{}, ErrUnknownToken
	}
	rows, err := q.QueryContext(ctx, `SELECT id, email, name, token FROM subscribers WHERE substr(token, 1, 8) = ?`,
		token[:tokenPrefixLen])
	if err != nil {
		return Subscriber{}, fmt.Errorf("look up token: %w", err)
	}
	defer rows.Close()
	var found Subscriber
	match := 0
	for rows.Next() {
		var c Subscriber
		if err := rows.Scan(&c.ID, &c.Email, &c.Name, &c.Token); err != nil {
			return Subscriber{}, fmt.Errorf("look up token: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(c.Token), []byte(token)) == 1 {
			found = c
			match = 1
		}
	}
	if err := rows.Err(); err != nil {
		return Subscriber{}, fmt.Errorf("look up token: %w", err)
	}
	if match == 0 {
		return Subscriber{}, ErrUnknownToken
	}
	return found, nil
}

// TokenMembership is one list membership of the holder of a token, as the
// unsubscribe page shows it.
type TokenMembership struct {
	List   List
	Status string
}

// MembershipsByToken returns the token holder's memberships: of the list
// named list, or of every list when list is empty. A list the holder is
// not on is ErrUnknownToken.
func (s *Store) MembershipsByToken(ctx context.Context, token, list string) ([]TokenMembership, error) {
	sub, err := s.ByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.memberships(ctx, s.DB, sub.ID, list)
}

func (s *Store) memberships(ctx context.Context, q store.Querier, subID int64, list string) ([]TokenMembership, error) {
	rows, err := q.QueryContext(ctx, `SELECT m.list_id, m.status FROM memberships m JOIN lists l ON l.id = m.list_id
		WHERE m.subscriber_id = ? AND (? = '' OR l.name = ?) ORDER BY l.name`, subID, list, list)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	type row struct {
		listID int64
		status string
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.listID, &r.status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read memberships: %w", err)
		}
		found = append(found, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	out := make([]TokenMembership, 0, len(found))
	for _, r := range found {
		l, err := scanList(q.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE id = ?`, r.listID))
		if err != nil {
			return nil, fmt.Errorf("read list: %w", err)
		}
		out = append(out, TokenMembership{List: l, Status: r.status})
	}
	if len(out) == 0 && list != "" {
		return nil, ErrUnknownToken
	}
	return out, nil
}

// UnsubscribeByToken ends the token holder's active membership of the
// list named list, or of every list when list is empty, and returns the
// memberships as they are afterwards. It is idempotent: a second call
// changes nothing. Bounced memberships stay bounced.
func (s *Store) UnsubscribeByToken(ctx context.Context, token, list string) ([]TokenMembership, error) {
	return s.setStatusByToken(ctx, token, list, StatusActive, StatusUnsubscribed)
}

// ResubscribeByToken makes the token holder's unsubscribed membership of
// the list (or of every list when list is empty) active again: the person
// clicked to undo their own unsubscribe. A bounced membership is not
// revived, since the address does not accept mail.
func (s *Store) ResubscribeByToken(ctx context.Context, token, list string) ([]TokenMembership, error) {
	return s.setStatusByToken(ctx, token, list, StatusUnsubscribed, StatusActive)
}

// UnsubscribeByTokenWithin is UnsubscribeByToken that waits at most wait
// for another writer's lock, and then fails with an error store.IsBusy
// recognises: the one-click handler answers a mail provider in time and
// journals the request instead (see Journal).
func (s *Store) UnsubscribeByTokenWithin(ctx context.Context, token, list string, wait time.Duration) ([]TokenMembership, error) {
	if !ValidTokenFormat(token) {
		return nil, ErrUnknownToken
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, wait.Milliseconds())); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, store.BusyTimeout.Milliseconds()))
	var out []TokenMembership
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if out, err = s.setStatusInTx(ctx, tx, token, list, StatusActive, StatusUnsubscribed); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

func (s *Store) setStatusByToken(ctx context.Context, token, list, from, to string) ([]TokenMembership, error) {
	if !ValidTokenFormat(token) {
		return nil, ErrUnknownToken
	}
	var out []TokenMembership
	err := store.RetryBusy(ctx, WriteRetry, func() error {
		return s.DB.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			out, err = s.setStatusInTx(ctx, tx, token, list, from, to)
			return err
		})
	})
	return out, err
}

func (s *Store) setStatusInTx(ctx context.Context, tx *sql.Tx, token, list, from, to string) ([]TokenMembership, error) {
	var out []TokenMembership
	err := func() error {
		sub, err := byToken(ctx, tx, token)
		if err != nil {
			return err
		}
		// Check the list first, so an unknown list changes nothing.
		if _, err := s.memberships(ctx, tx, sub.ID, list); err != nil {
			return err
		}
		if _, err := s.updateStatus(ctx, tx, sub.ID, list, from, to, Change{Source: SourceOneClick}); err != nil {
			return fmt.Errorf("update membership: %w", err)
		}
		out, err = s.memberships(ctx, tx, sub.ID, list)
		return err
	}()
	return out, err
}
