package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/newsroom/digest/store"
)

func TestOpenMigratesOnceAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var journal string
	var fk, busy int
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if journal != "wal" || fk != 1 || busy <= 0 {
		t.Fatalf("journal=%q foreign_keys=%d busy_timeout=%d, want wal, 1, >0", journal, fk, busy)
	}
	applied := appliedMigrations(t, db)
	db.Close()

	// Reopening applies nothing twice: the same migrations, recorded once
	// each at their first time, and the default list is not inserted again.
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	again := appliedMigrations(t, db)
	if len(again) != len(embeddedMigrations(t)) {
		t.Fatalf("%d migrations recorded, want one per embedded file (%d)", len(again), len(embeddedMigrations(t)))
	}
	for name, at := range applied {
		if again[name] != at {
			t.Errorf("migration %s recorded at %d, then %d after reopening: applied twice", name, at, again[name])
		}
	}
	var lists int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM lists WHERE name = 'daily'`).Scan(&lists); err != nil {
		t.Fatal(err)
	}
	if lists != 1 {
		t.Fatalf("%d daily lists after reopening, want 1", lists)
	}
	// The tables of every migration, 0001 to 0005.
	for _, table := range []string{"sections", "stories", "lists", "subscribers", "memberships", "editions", "edition_stories", "deliveries",
		"subscriber_bounces", "leases", "schedule_runs"} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
}

// appliedMigrations reads schema_migrations: name -> applied_at.
func appliedMigrations(t *testing.T, db *store.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT name, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var at int64
		if err := rows.Scan(&name, &at); err != nil {
			t.Fatal(err)
		}
		out[name] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// embeddedMigrations lists the migration files in the source tree.
func embeddedMigrations(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations found (%v)", err)
	}
	return names
}

func TestOpenRejectsNonSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("this is not a database, just some text that is long enough to have a header\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), path)
	if !errors.Is(err, store.ErrNotDatabase) {
		t.Fatalf("got %v, want ErrNotDatabase", err)
	}
	got, _ := os.ReadFile(path)
	if string(got[:7]) != "this is" {
		t.Fatal("file was modified")
	}
}

func TestInTxRollsBack(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sections (name, created_at) VALUES ('x', 0)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections WHERE name = 'x'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("sections=%d after rollback", n)
	}
}

// Any file name works as --db: the file created has exactly that name
// (no URI character cuts or decodes it), nothing else appears beside it,
// and reopening it finds the data.
func TestOpenTakesAnyPath(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		path func(dir string) string // dir is the working directory
	}{
		{"hash", rel("x#y.db")},
		{"question mark", rel("what?.db")},
		{"query-like", rel("a?b=c&d.db")},
		{"percent", rel("100%.db")},
		{"percent escapes", rel("%41%2F.db")},
		{"space", rel("with space.db")},
		{"leading and trailing spaces", rel(" lead and trail .db")},
		{"unicode", rel("ünïcødé-日報.db")},
		{"semicolon and equals", rel("semi;colon=eq.db")},
		{"new folder", rel("sub dir#1/nested?.db")},
		{"dot relative", rel("./dot#relative.db")},
		{"up and back", func(dir string) string { return "../" + filepath.Base(dir) + "/up#back.db" }},
		{"absolute", func(dir string) string { return filepath.Join(dir, "abs#olute?.db") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			path := tt.path(dir)
			db, err := store.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO sections (name, created_at) VALUES ('kept', 0)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("no file at %q: %v", path, err)
			}
			if !fi.Mode().IsRegular() || fi.Size() == 0 {
				t.Fatalf("%q is not a database file (mode %v, %d bytes)", path, fi.Mode(), fi.Size())
			}
			base := filepath.Base(path)
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if n := e.Name(); n != base && n != base+"-wal" && n != base+"-shm" {
					t.Errorf("unexpected %q next to %q", n, base)
				}
			}
			db, err = store.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections WHERE name = 'kept'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("reopened %q: the row written before is missing", path)
			}
		})
	}
}

// rel is a test path relative to the working directory.
func rel(p string) func(string) string { return func(string) string { return p } }
