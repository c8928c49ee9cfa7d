// Package store opens the SQLite database that holds everything digest
// knows, and brings its schema up to date with the embedded migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open digest database. The embedded *sql.DB is safe for
// concurrent use; writers are serialised by SQLite with a busy timeout.
type DB struct {
	*sql.DB
	Path string
}

// BusyTimeout is how long a writer waits for another writer before failing.
const BusyTimeout = 10 * time.Second

// ErrNotDatabase reports a file that exists but is not a SQLite database.
var ErrNotDatabase = errors.New("not a SQLite database")

// Open opens (creating if needed) the SQLite file at path with WAL,
// foreign keys and a busy timeout, and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open store: empty database path: set --db or DIGEST_DB")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	dsn, err := dataSourceName(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{DB: sqldb, Path: path}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		if isNotADB(err) {
			return nil, fmt.Errorf("open store: %s is %w: point --db at a digest database or a new file", path, ErrNotDatabase)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// dataSourceName builds the driver's DSN for a file path: a SQLite URI
// (file:///abs/path?params) with the path made absolute and
// percent-encoded. Gluing the raw path after "file:" breaks on the
// characters a URI gives meaning to: "x#y.db" opened a file named x, "a?b"
// lost everything after the ?, and a literal %41 was decoded to A. SQLite
// decodes the escapes, so the file created has exactly the given name.
func dataSourceName(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(int(BusyTimeout/time.Millisecond))+")")
	// Immediate transactions take the write lock at BEGIN, so two writers
	// queue on the busy timeout instead of failing on lock upgrade.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // a Windows drive path: file:///C:/...
		u.Path = "/" + u.Path
	}
	return u.String(), nil
}

func isNotADB(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_NOTADB
	}
	return strings.Contains(err.Error(), "file is not a database")
}

// migrate applies every embedded migration not yet recorded, each in its
// own transaction together with its record.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.applyMigration(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", filepath.Base(name), err)
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, name string) error {
	base := filepath.Base(name)
	return db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, base).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, base, time.Now().Unix())
		return err
	})
}

// InTx runs fn in a transaction, committing when fn returns nil and
// rolling back otherwise.
func (db *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Querier is what both *sql.DB and *sql.Tx provide, so that domain
// packages can run the same SQL inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
