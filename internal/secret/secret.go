// Package secret keeps the keys digest signs its own addresses and links
// with (VERP bounce addresses, click redirects): one random master key,
// generated once and stored in the database, or configured as
// bounce_secret; each use gets its own key derived from it, so a leak of
// one HMAC's outputs says nothing about the others.
package secret

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// Uses of the master key: each HMAC is keyed by Derive(master, use).
const (
	UseVERP  = "verp"
	UseClick = "click"
)

const masterName = "master"

// Master returns the configured secret when there is one, or else the
// database's random master key, created on first use. Two processes
// creating it at once both end up with the first one stored.
func Master(ctx context.Context, db *store.DB, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	var key []byte
	err := db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, masterName).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if _, err := db.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		masterName, fresh, time.Now().Unix()); err != nil {
		return nil, fmt.Errorf("store secret: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, masterName).Scan(&key); err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return key, nil
}

// Derive is the key for one use of the master key.
func Derive(master []byte, use string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("digest/" + use))
	return m.Sum(nil)
}

// Key is Derive(Master(...), use).
func Key(ctx context.Context, db *store.DB, configured, use string) ([]byte, error) {
	m, err := Master(ctx, db, configured)
	if err != nil {
		return nil, err
	}
	return Derive(m, use), nil
}
