package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNoDatabase reports a database file that does not exist, to a
// command that only reads and so must not create one.
var ErrNoDatabase = errors.New("no database")

// OpenReadOnly opens an existing database for reading only: it never
// creates the file, never writes to it, and works on a file or folder
// that cannot be written.
//
// How it reads depends on who else has the file open. A WAL database
// that another process is using has its -wal and -shm files next to it;
// then the connection joins them (mode=ro) and sees every committed
// write. Without them nobody is writing now, and the file is read as it
// stands (immutable): a read-only connection would otherwise create -wal
// and -shm and, being read-only, leave them behind. live asks for mode=ro
// always, for a long-running reader (the preview server) that must see
// later writes; it may leave those two files. Whenever mode=ro cannot
// open (a read-only folder without -shm), immutable is the fallback.
//
// A database whose schema is older than this binary is migrated first,
// through Open, since the queries expect the new schema; that writes
// only to a database that exists.
func OpenReadOnly(ctx context.Context, path string, live bool) (*DB, error) {
	if path == "" {
		return nil, errors.New("open store: empty database path: set --db or DIGEST_DB")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: run digest demo, or pass --db", ErrNoDatabase, path)
	} else if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	_, walErr := os.Stat(path + "-wal")
	modes := []string{"immutable", "ro"}
	if live || walErr == nil {
		modes = []string{"ro", "immutable"}
	}
	var err error
	for _, mode := range modes {
		var db *DB
		db, err = openRO(ctx, path, mode)
		if err == nil {
			return db.upToDate(ctx)
		}
		if isNotADB(err) {
			return nil, fmt.Errorf("open store: %s is %w: point --db at a digest database", path, ErrNotDatabase)
		}
	}
	return nil, fmt.Errorf("open store %s: %w", path, err)
}

// openRO opens path read-only in the given mode ("ro" or "immutable")
// and reads the schema, so that a file that cannot be read fails here.
func openRO(ctx context.Context, path, mode string) (*DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	if mode == "immutable" {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(int(BusyTimeout/time.Millisecond))+")")
	q.Add("_pragma", "query_only(1)")
	sqldb, err := sql.Open("sqlite", fileURI(path, q))
	if err != nil {
		return nil, err
	}
	if _, err := sqldb.ExecContext(ctx, `SELECT COUNT(*) FROM sqlite_master`); err != nil {
		sqldb.Close()
		return nil, err
	}
	return &DB{DB: sqldb, Path: path}, nil
}

// fileURI is the SQLite URI of path: made absolute and percent-encoded,
// so that a name with #, ?, % or spaces names that file.
func fileURI(path string, q url.Values) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path[0] != '/' { // a Windows drive letter
		u.Path = "/" + u.Path
	}
	return u.String()
}

// upToDate returns db when every embedded migration is applied, and
// otherwise reopens the file with Open, which applies them.
func (db *DB) upToDate(ctx context.Context) (*DB, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		db.Close()
		return nil, err
	}
	var applied int
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied)
	if err == nil && applied >= len(names) {
		return db, nil
	}
	db.Close()
	rw, err := Open(ctx, db.Path)
	if err != nil {
		return nil, fmt.Errorf("%w (the database needs its schema brought up to date, which needs write access)", err)
	}
	return rw, nil
}
