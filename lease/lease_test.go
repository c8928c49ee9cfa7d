package lease

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.Open(t)
	return db
}

func TestLeaseIsExclusiveAndExpires(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	c := clock.NewManual(start)
	host, _ := os.Hostname()
	mk := func(holder string) *Lease {
		return &Lease{DB: db, Name: "scheduler", Holder: holder, Token: holder, PID: os.Getpid(), Host: host, TTL: 30 * time.Second, Now: c.Now}
	}
	a, b := mk("a"), mk("b")
	step := func(l *Lease, at time.Duration, want bool) {
		t.Helper()
		c.Set(start.Add(at))
		got, _, err := l.Acquire(ctx)
		if err != nil || got != want {
			t.Fatalf("%s at +%s: got %v (%v), want %v", l.Holder, at, got, err, want)
		}
	}
	step(a, 0, true)
	step(b, time.Second, false)
	step(a, 20*time.Second, true) // renewal moves the expiry
	step(b, 40*time.Second, false)
	step(b, 51*time.Second, true) // a failed to renew
	step(a, 52*time.Second, false)
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	step(a, 53*time.Second, true)
	cur, ok, err := a.Current(ctx)
	if err != nil || !ok || cur.Holder != "a" || !cur.Since.Equal(start.Add(53*time.Second)) {
		t.Fatalf("current: %+v %v %v", cur, ok, err)
	}
	step(a, 60*time.Second, true)
	if cur, _, _ := a.Current(ctx); !cur.Since.Equal(start.Add(53 * time.Second)) {
		t.Errorf("a renewal moved the time the lease was taken to %s", cur.Since)
	}
}

// Two runs of one process (same holder name) are told apart by token.
func TestSameHolderDifferentTokenIsExcluded(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	a, b := New(db, "send/list/1", 0), New(db, "send/list/1", 0)
	if a.Holder != b.Holder {
		t.Fatalf("holders %q and %q: both are this process", a.Holder, b.Holder)
	}
	if ok, _, err := a.Acquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _, err := b.Acquire(ctx); ok || err != nil {
		t.Fatalf("b took a lease a holds: %v %v", ok, err)
	}
}

// The lease of a process on this host that no longer exists is taken
// over at once; that of a live process is not.
func TestDeadHolderOnThisHostIsTakenOver(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	cmd := exec.Command("sleep", "0")
	if err := cmd.Run(); err != nil {
		t.Skip("no sleep command to make a dead pid with")
	}
	dead := cmd.Process.Pid
	host, _ := os.Hostname()
	gone := &Lease{DB: db, Name: "send/list/1", Holder: "gone", Token: "t", PID: dead, Host: host, TTL: time.Hour}
	if ok, _, err := gone.Acquire(ctx); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	me := New(db, "send/list/1", 0)
	if ok, _, err := me.Acquire(ctx); !ok || err != nil {
		t.Fatalf("the lease of dead pid %d was not taken over: %v %v", dead, ok, err)
	}
	// A live holder (pid 1 exists on every unix host) keeps it.
	live := &Lease{DB: db, Name: "send/list/2", Holder: "init", Token: "t", PID: 1, Host: host, TTL: time.Hour}
	if ok, _, err := live.Acquire(ctx); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	me2 := New(db, "send/list/2", 0)
	if ok, _, _ := me2.Acquire(ctx); ok {
		t.Fatal("the lease of a live process was taken")
	}
}

func TestHoldBusyWaitAndLoss(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	a := New(db, "send/list/1", 3*time.Second)
	a.Note = "edition 4 of daily"
	ha, err := Hold(ctx, a, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := New(db, "send/list/1", 3*time.Second)
	_, err = Hold(ctx, b, false, nil)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Note != "edition 4 of daily" || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second Hold: %v", err)
	}
	// With wait, b gets the lease once a releases it.
	waiting := make(chan Info, 1)
	got := make(chan error, 1)
	var hb *Held
	go func() {
		var err error
		hb, err = Hold(ctx, b, true, func(i Info) { waiting <- i })
		got <- err
	}()
	if i := <-waiting; i.Token != a.Token {
		t.Fatalf("waiting for %+v, want a", i)
	}
	if err := ha.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Someone takes it over behind b's back: b's context ends with ErrLost
	// at its next heartbeat.
	if _, err := db.Exec(`UPDATE leases SET token = 'other' WHERE name = ?`, "send/list/1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hb.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the heartbeat did not notice the lease was taken")
	}
	if !errors.Is(context.Cause(hb.Context()), ErrLost) {
		t.Fatalf("cause %v", context.Cause(hb.Context()))
	}
	hb.Release()
}
