package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/newsroom/digest/store"
)

// files lists the names in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestOpenReadOnlyRefusesAMissingFileAndCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "digest.db")
	for _, live := range []bool{false, true} {
		_, err := store.OpenReadOnly(context.Background(), path, live)
		if !errors.Is(err, store.ErrNoDatabase) || !strings.Contains(err.Error(), "no database at "+path+": run digest demo, or pass --db") {
			t.Fatalf("live=%v: err %v, want ErrNoDatabase with the path and what to do", live, err)
		}
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("a refused read-only open left %v behind", got)
	}
}

func newDatabase(t *testing.T, name string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	plain := filepath.Join(dir, "plain.db")
	db, err := store.Open(context.Background(), plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sections (name, title, display_order, max_stories, created_at) VALUES ('World', '', 1, 3, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Renamed after closing (no -wal left), so the name reaches only
	// OpenReadOnly.
	path = filepath.Join(dir, name)
	if err := os.Rename(plain, path); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestOpenReadOnlyReadsWithoutWritingOrLeavingFiles(t *testing.T) {
	ctx := context.Background()
	// A name SQLite's URI syntax would otherwise cut or decode.
	dir, path := newDatabase(t, "news #1? 100% ünï.db")
	before := files(t, dir)
	db, err := store.OpenReadOnly(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections WHERE name = 'World'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("read %d rows (err %v), want the 1 section written before", n, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM sections`); err == nil {
		t.Fatal("a read-only store accepted a DELETE")
	}
	db.Close()
	if got := files(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("files %v after a read-only open, want %v (no -wal/-shm left)", got, before)
	}
}

func TestOpenReadOnlySeesAnOpenWritersCommits(t *testing.T) {
	ctx := context.Background()
	_, path := newDatabase(t, "d.db")
	w, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// With the writer's connection open, the row sits in the WAL.
	if _, err := w.ExecContext(ctx, `INSERT INTO sections (name, title, display_order, max_stories, created_at) VALUES ('Economy', '', 2, 3, 0)`); err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenReadOnly(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("reader sees %d sections (err %v), want 2: the writer's commit in the WAL", n, err)
	}
}

// Tests run as root in CI, and root reads and writes whatever the mode
// bits say; so the permission part shows only for other users. The
// read-only handle itself is proven above through SQLite's mode.
func TestOpenReadOnlyReadsAReadOnlyFileAndFolder(t *testing.T) {
	ctx := context.Background()
	dir, path := newDatabase(t, "d.db")
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755); os.Chmod(path, 0o644) })
	for _, live := range []bool{false, true} {
		db, err := store.OpenReadOnly(ctx, path, live)
		if err != nil {
			t.Fatalf("live=%v: %v", live, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sections WHERE name = 'World'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("live=%v: read %d (err %v), want 1", live, n, err)
		}
		db.Close()
	}
}

func TestOpenReadOnlyRejectsNonSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database, just text\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenReadOnly(context.Background(), path, false); !errors.Is(err, store.ErrNotDatabase) {
		t.Fatalf("err %v, want ErrNotDatabase", err)
	}
}
