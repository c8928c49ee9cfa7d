package storetest_test

import (
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/newsroom/digest/internal/storetest"
)

func TestOpenAppliesTheMigrationsAndCountCounts(t *testing.T) {
	db := storetest.Open(t)
	// Migration 0001 creates the daily list.
	if n := storetest.Count(t, db, `SELECT COUNT(*) FROM lists WHERE name = ?`, "daily"); n != 1 {
		t.Fatalf("daily lists: %d, want 1", n)
	}
}

func TestWaitUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	storetest.WaitUntil(t, "the third call", func() bool { calls++; return calls == 3 }, nil)
	if calls != 3 {
		t.Fatalf("%d calls, want 3", calls)
	}
}

func TestBufferKeepsConcurrentWrites(t *testing.T) {
	var b storetest.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); fmt.Fprintf(&b, "%d", i%2) }()
	}
	wg.Wait()
	if got := len(b.String()); got != 8 {
		t.Fatalf("%d bytes, want 8", got)
	}
}

func TestHoldPortIsTaken(t *testing.T) {
	addr := storetest.HoldPort(t)
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be taken again", addr)
	}
}

func TestBetween(t *testing.T) {
	for _, c := range []struct{ s, a, b, want string }{
		{"sent 3, failed 1", "sent ", ",", "3"},
		{"sent 3", "sent ", ",", "3"},
		{"nothing", "sent ", ",", ""},
	} {
		if got := storetest.Between(c.s, c.a, c.b); got != c.want {
			t.Errorf("Between(%q, %q, %q) = %q, want %q", c.s, c.a, c.b, got, c.want)
		}
	}
}
