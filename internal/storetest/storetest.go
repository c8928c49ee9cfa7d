// Package storetest holds the fixtures digest's tests share, so that each
// exists once: a fresh store in a temporary folder and a row count, the
// real digest binary built once per test binary, a bounded polling wait,
// a buffer a test can read while a process or goroutine writes to it, a
// held loopback port, and a substring cut. Only tests import it.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/newsroom/digest/store"
)

// Open opens a new database file, digest.db in a temporary folder of tb,
// with every migration applied; it is closed when tb ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	return OpenPath(tb, filepath.Join(tb.TempDir(), "digest.db"))
}

// OpenPath opens (creating if needed) the database at path, closed when
// tb ends: for tests that look into the file a command wrote.
func OpenPath(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Count runs a query that returns one number (a COUNT(*)) and returns
// it, failing tb on error.
func Count(tb testing.TB, db store.Querier, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// HoldPort listens on a free loopback port until tb ends and returns its
// address: a port that is certainly taken.
func HoldPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Between returns the part of s after the first a and before the next b
// (to the end when no b follows), or "" when a is not in s.
func Between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return s
}

// Patience bounds WaitUntil: generous, so that a slow shared machine
// does not fail a test, and finite, so that a broken one cannot hang the
// suite. It is a bound on waiting, not a timed assertion.
const Patience = 60 * time.Second

// WaitUntil polls cond until it holds. After Patience it fails tb with
// "gave up waiting for " what, followed by detail() when detail is not
// nil (the logs, a count), read at that moment.
func WaitUntil(tb testing.TB, what string, cond func() bool, detail func() string) {
	tb.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "gave up waiting for " + what
			if detail != nil {
				msg += "\n" + detail()
			}
			tb.Fatal(msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Buffer is an io.Writer safe for concurrent use whose content can be
// read while writers still write: a subprocess's output, a logger's.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	buildOnce sync.Once
	binDir    string
	binary    string
	buildErr  error
)

// Binary returns the path of the real digest command, compiled the first
// time a test of this test binary asks (then reused). A test package
// that calls it removes the build with Main.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go command to build the binary with: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "digest-bin-"); err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(binDir, "digest")
		out, err := exec.Command(gobin, "build", "-o", binary, "github.com/newsroom/digest/cmd/digest").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// Main runs the tests and removes the binary Binary built; call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
