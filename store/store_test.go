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
	db.Close()

	// Reopening applies nothing twice and keeps the default list.
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var migrations, lists int
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&migrations)
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM lists WHERE name = 'daily'`).Scan(&lists)
	if migrations < 1 || lists != 1 {
		t.Fatalf("migrations=%d daily lists=%d, want >=1 and 1", migrations, lists)
	}
	for _, table := range []string{"sections", "stories", "lists", "subscribers", "memberships", "editions", "edition_stories", "deliveries"} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
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
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections`).Scan(&n)
	if n != 0 {
		t.Fatalf("sections=%d after rollback", n)
	}
}
