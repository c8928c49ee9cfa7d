// Package tokens manages the bearer tokens with which a newsroom's CMS
// reaches the push API: random, shown once, stored only as a hash and
// checked in constant time. It owns the api_tokens table.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/store"
)

// Prefix starts every token, so that one pasted into the wrong place is
// recognisable (and secret scanners can find it).
const Prefix = "dgt_"

// Token is a stored token; the secret itself is never kept.
type Token struct {
	Name     string    `json:"name"`
	Created  time.Time `json:"created_at"`
	LastUsed time.Time `json:"last_used_at"`
}

// Store reads and writes tokens.
type Store struct {
	DB  *store.DB
	Now func() time.Time
}

func (s *Store) now() time.Time { return clock.Now(s.Now) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Errors of the token commands.
var (
	ErrExists   = errors.New("token name taken")
	ErrNotFound = errors.New("no such token")
)

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CheckName refuses a token name that could not be stored, before any
// work (the CLI reports it as a usage error).
func CheckName(name string) error {
	if !nameRE.MatchString(strings.TrimSpace(name)) {
		return fmt.Errorf("token name %q: use letters, digits, '.', '_' or '-' (at most 64), like cms-prod", name)
	}
	return nil
}

// Create makes a token called name from 32 random bytes and returns the
// secret, which is stored only as its SHA-256 (a 256-bit random secret
// needs no slow hash: there is nothing to guess).
func (s *Store) Create(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if err := CheckName(name); err != nil {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	res, err := s.DB.ExecContext(ctx, `INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, hash(secret), s.now().Unix())
	if err != nil {
		return "", err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("a token called %s exists (%w): revoke it first or pick another name", name, ErrExists)
	}
	return secret, nil
}

// List returns the tokens by name.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created, used int64
		if err := rows.Scan(&t.Name, &created, &used); err != nil {
			return nil, err
		}
		t.Created = time.Unix(created, 0).UTC()
		if used > 0 {
			t.LastUsed = time.Unix(used, 0).UTC()
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Revoke deletes the token called name: requests with it fail at once.
func (s *Store) Revoke(ctx context.Context, name string) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, strings.TrimSpace(name))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w (see digest tokens list)", name, ErrNotFound)
	}
	return nil
}

// Check returns the name of the token secret matches, comparing its hash
// with every stored hash in constant time (no early exit, no index walk
// on the secret), or ok false.
func (s *Store) Check(ctx context.Context, secret string) (string, bool, error) {
	if secret == "" {
		return "", false, nil
	}
	want := hash(secret)
	rows, err := s.DB.QueryContext(ctx, `SELECT name, hash FROM api_tokens`)
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	match := ""
	for rows.Next() {
		var name string
		var h []byte
		if err := rows.Scan(&name, &h); err != nil {
			return "", false, err
		}
		if subtle.ConstantTimeCompare(h, want) == 1 {
			match = name
		}
	}
	if err := rows.Err(); err != nil {
		return "", false, err
	}
	if match == "" {
		return "", false, nil
	}
	s.DB.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE name = ?`, s.now().Unix(), match)
	return match, true, nil
}
