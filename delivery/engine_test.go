package delivery_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/smtptest"
)

// sendUntilSettled runs the edition's send, then --retry-deferred runs
// until nothing is deferred, as an operator would; it returns the first
// run's summary. Deliveries left unknown (a connection dropped after the
// final ".") are sent again with --retry-unknown only after checking, as
// an operator would ask the relay, that the server did not take them.
func sendUntilSettled(t *testing.T, s *delivery.Sender, f *fixture, srv *smtptest.Server, editionID int64) delivery.Summary {
	t.Helper()
	ed := f.edition("2026-11-28")
	var first delivery.Summary
	for i := range 6 {
		s.RetryDeferred, s.RetryUnknown = i > 0, i > 0
		if i > 0 {
			per := srv.PerRecipient()
			for e, r := range f.ledger(editionID) {
				if r.status == delivery.StatusUnknown && per[e] != 0 {
					t.Fatalf("%s is unknown but the server took it %d times: --retry-unknown would send it twice", e, per[e])
				}
			}
		}
		sum, err := s.Send(f.ctx, ed, f.list)
		if err != nil {
			t.Fatalf("run %d: %v (summary %+v)", i+1, err, sum)
		}
		if i == 0 {
			first = sum
		}
		t.Logf("run %d: %+v", i+1, sum)
		if sum.Deferred == 0 && sum.Unknown == 0 {
			return first
		}
	}
	t.Fatal("recipients still deferred or unknown after 6 runs")
	return first
}

func TestExactlyOnceUnderFaults(t *testing.T) {
	rejected := map[string]bool{"sub00007@example.org": true, "sub00042@example.org": true, "sub00099@example.org": true}
	tests := []struct {
		name   string
		faults smtptest.Faults
	}{
		{"421 share", smtptest.Faults{Seed: 1, Share421: 0.15}},
		{"451 share", smtptest.Faults{Seed: 2, Share451: 0.15}},
		{"drop mid-DATA", smtptest.Faults{Seed: 3, ShareDrop: 0.1}},
		{"slow replies", smtptest.Faults{Seed: 4, Slow: 2 * time.Millisecond}},
		{"550 for chosen recipients", smtptest.Faults{Seed: 5, Reject550: rejected}},
		{"everything at once", smtptest.Faults{Seed: 6, Share421: 0.08, Share451: 0.08, ShareDrop: 0.05, Slow: time.Millisecond, Reject550: rejected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 150)
			f.addStories(6, 200)
			ed := f.edition("2026-11-28")
			srv := smtptest.Start(t, func(s *smtptest.Server) { s.Faults = tt.faults })
			s := f.sender(t, srv.URL())
			first := sendUntilSettled(t, s, f, srv, ed.ID)
			want := rejected
			if tt.faults.Reject550 == nil {
				want = nil
			}
			checkExactlyOnce(t, f, srv, ed.ID, want, 550)
			if first.Failed != len(want) {
				t.Errorf("summary failed %d, want %d", first.Failed, len(want))
			}
			inj := srv.Injected()
			t.Logf("faults injected: %v; sessions %d", inj, srv.Sessions())
			if tt.faults.Share421+tt.faults.Share451+tt.faults.ShareDrop > 0 && first.Retries+first.Unknown == 0 {
				t.Error("faults were injected but the summary counts no retry and no unknown outcome")
			}
			// A run after everything settled sends nothing.
			sum, err := s.Send(f.ctx, ed, f.list)
			if err != nil || sum.Sent != 0 || sum.Already != 150-len(want) || sum.FailedBefore != len(want) {
				t.Fatalf("settled rerun: %+v, %v", sum, err)
			}
		})
	}
}

func TestFailedRecipientsDoNotStopTheRest(t *testing.T) {
	f := newFixture(t, 30)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			if strings.HasPrefix(to, "sub0001") { // sub00010..sub00019
				return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
			}
			return nil
		}
	})
	sum, err := f.sender(t, srv.URL()).Send(f.ctx, ed, f.list)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 20 || sum.Failed != 10 {
		t.Fatalf("summary %+v, want 20 sent and 10 failed", sum)
	}
	l := f.ledger(ed.ID)
	if r := l["sub00012@example.org"]; r.status != "failed" || r.code != 552 || !strings.Contains(r.reply, "Mailbox full") {
		t.Fatalf("ledger row %+v", r)
	}
}

func TestBouncedAfterThreePermanentFailuresInARow(t *testing.T) {
	f := newFixture(t, 5)
	f.addStories(3, 100)
	const bad, flaky = "sub00002@example.org", "sub00004@example.org"
	var rejectFlaky atomic.Bool
	var badTries atomic.Int32
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			switch {
			case to == bad:
				badTries.Add(1)
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			case to == flaky && rejectFlaky.Load():
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	// flaky: refused, refused, accepted, refused: never three in a row.
	flakyRefused := []bool{true, true, false, true}
	for i, date := range []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"} {
		rejectFlaky.Store(flakyRefused[i])
		sum, err := s.Send(f.ctx, f.edition(date), f.list)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0, 1:
			if f.membership(bad) != "active" {
				t.Fatalf("edition %d: bounced after %d failures", i+1, i+1)
			}
		case 2:
			if f.membership(bad) != "bounced" || sum.Bounced != 1 {
				t.Fatalf("edition 3: membership %s, summary %+v; want bounced", f.membership(bad), sum)
			}
		case 3:
			if sum.Sent != 3 || sum.Failed != 1 {
				t.Fatalf("edition 4: %+v: the bounced subscriber should be skipped, flaky refused", sum)
			}
		}
	}
	if n := badTries.Load(); n != 3 {
		t.Errorf("the bounced address was tried %d times, want 3 (not after it bounced)", n)
	}
	if got := f.membership(flaky); got != "active" {
		t.Errorf("flaky subscriber is %s: a delivery in between must reset the count", got)
	}
}

func TestCircuitBreakerStopsOnBrokenRelay(t *testing.T) {
	f := newFixture(t, 300)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	srv := smtptest.Start(t, func(s *smtptest.Server) { s.Faults = smtptest.Faults{Share451: 1} })
	s := f.sender(t, srv.URL())
	sum, err := s.Send(f.ctx, ed, f.list)
	if !errors.Is(err, delivery.ErrTooManyFailures) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("err %v, want ErrTooManyFailures naming the reply", err)
	}
	attempts := srv.Injected()[451]
	if attempts > 40 {
		t.Errorf("%d attempts before stopping; the breaker should stop after about 20", attempts)
	}
	if sum.Sent != 0 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	// Nobody was given up on: all rows are still queued (or deferred
	// after their last attempt), none failed.
	for e, r := range f.ledger(ed.ID) {
		if r.status != "queued" && r.status != "deferred" {
			t.Fatalf("%s: %s after a broken relay", e, r.status)
		}
	}

	// A relay that refuses us by policy fails the recipients it was
	// tried with, but counts no bounce against them: the addresses are
	// not at fault.
	for _, hook := range []func(*smtptest.Server){
		func(s *smtptest.Server) {
			s.MailHook = func(string) error {
				return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address rejected"}
			}
		},
		func(s *smtptest.Server) {
			s.RcptHook = func(string) error {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
			}
		},
	} {
		srv := smtptest.Start(t, hook)
		f := newFixture(t, 300)
		f.addStories(3, 100)
		_, err = f.sender(t, srv.URL()).Send(f.ctx, f.edition("2026-11-28"), f.list)
		if !errors.Is(err, delivery.ErrTooManyFailures) {
			t.Fatalf("relay refusing: %v", err)
		}
		var failed, bounces int
		f.db.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE status = 'failed'`).Scan(&failed)
		f.db.QueryRow(`SELECT COUNT(*) FROM subscriber_bounces`).Scan(&bounces)
		if failed == 0 || failed > 30 || bounces != 0 {
			t.Errorf("%d recipients failed (want 1..30 before the breaker), %d bounces counted (want 0)", failed, bounces)
		}
	}
}

func TestGracefulStopFinishesInFlightAndResumes(t *testing.T) {
	f := newFixture(t, 200)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var accepted atomic.Int32
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.Delay = time.Millisecond
		s.DataHook = func(smtptest.Message) error {
			if accepted.Add(1) == 40 {
				cancel() // as SIGINT would, while other messages are on the wire
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	sum, err := s.Send(ctx, ed, f.list)
	if !errors.Is(err, delivery.ErrInterrupted) {
		t.Fatalf("err %v, want ErrInterrupted", err)
	}
	// Every message the server accepted is recorded as sent: none was
	// left in flight, so none can be sent twice.
	l := f.ledger(ed.ID)
	sent := 0
	for _, r := range l {
		if r.status == "sent" {
			sent++
		} else if r.status != "queued" {
			t.Errorf("row %+v after a graceful stop", r)
		}
	}
	if sent != srv.Accepted() || sum.Sent != sent {
		t.Fatalf("ledger has %d sent, summary %d, server accepted %d", sent, sum.Sent, srv.Accepted())
	}
	if sent >= 200 {
		t.Fatal("the stop came too late to test anything")
	}
	srv.SetDataHook(nil)
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Already != sent || sum.Sent != 200-sent {
		t.Fatalf("resume: %+v, %v", sum, err)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
}

func TestDeferredWaitForRetryDeferred(t *testing.T) {
	f := newFixture(t, 5)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	var greylist atomic.Bool
	greylist.Store(true)
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.DataHook = func(smtptest.Message) error {
			if greylist.Load() {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try later"}
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	s.MaxAttempts = 2
	before := time.Now().Unix()
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Deferred != 5 || sum.Retries != 5 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	for e, r := range f.ledger(ed.ID) {
		if r.status != "deferred" || r.attempts != 2 || r.code != 451 || r.next < before+int64(delivery.DefaultDeferFor/time.Second)-1 {
			t.Fatalf("%s: %+v, want deferred after 2 attempts with next_attempt_at ~15 min ahead", e, r)
		}
	}
	greylist.Store(false)
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 0 || sum.DeferredBefore != 5 {
		t.Fatalf("plain rerun must leave deferred ones alone: %+v, %v", sum, err)
	}
	s.RetryDeferred = true
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 5 {
		t.Fatalf("--retry-deferred: %+v, %v", sum, err)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
	if r := f.ledger(ed.ID)["sub00001@example.org"]; r.attempts != 3 {
		t.Errorf("attempts %d, want 3 across both runs", r.attempts)
	}
}

func TestAuthRefusedMidRunStopsAndResumes(t *testing.T) {
	f := newFixture(t, 120)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	const password = "s3cret-Pa55"
	var mu sync.Mutex
	accepted := 0
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.Username, s.Password = "digest", password
		s.DataHook = func(smtptest.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if accepted >= 30 {
				s.FailAuth.Store(true)  // the password was revoked ...
				return smtptest.ErrDrop // ... and the relay drops us
			}
			accepted++
			return nil
		}
	})
	s := f.sender(t, "smtp://digest:"+password+"@"+srv.Addr+"?tls=none&auth=plain")
	sum, err := s.Send(f.ctx, ed, f.list)
	if !errors.Is(err, delivery.ErrConnect) || !strings.Contains(err.Error(), "refused the login") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatal("the password is in the error")
	}
	if sum.Sent != 30 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	srv.FailAuth.Store(false)
	srv.SetDataHook(nil)
	// The messages whose connection the relay dropped after their data
	// are unknown: a plain resume leaves them, --retry-unknown sends them
	// (the server took none of them).
	unknown := 0
	for _, r := range f.ledger(ed.ID) {
		if r.status == delivery.StatusUnknown {
			unknown++
		}
	}
	if unknown == 0 || unknown > 4 || sum.Unknown != unknown {
		t.Fatalf("%d unknown in the ledger, summary %+v: want 1..4 (one per connection)", unknown, sum)
	}
	if sum, err := s.Send(f.ctx, ed, f.list); err != nil || sum.UnknownBefore != unknown || sum.Sent != 120-30-unknown {
		t.Fatalf("resume: %+v, %v", sum, err)
	}
	s.RetryUnknown = true
	if sum, err := s.Send(f.ctx, ed, f.list); err != nil || sum.Sent != unknown {
		t.Fatalf("--retry-unknown: %+v, %v", sum, err)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
}

func TestRateLimitSpacesMessages(t *testing.T) {
	// A lower bound only: the limiter must not let messages through
	// faster than asked; nothing here can fail on a slow machine.
	f := newFixture(t, 11)
	f.addStories(2, 50)
	ed := f.edition("2026-11-28")
	srv := smtptest.Start(t, nil)
	s := f.sender(t, srv.URL())
	s.Rate = 50
	start := time.Now()
	if _, err := s.Send(f.ctx, ed, f.list); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("11 messages at 50/s took %s, want at least 200ms", d)
	}

	f2 := newFixture(t, 4)
	f2.addStories(2, 50)
	s2 := f2.sender(t, srv.URL())
	s2.MaxPerHour = 36000 // one every 100ms
	start = time.Now()
	if _, err := s2.Send(f2.ctx, f2.edition("2026-11-28"), f2.list); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Errorf("4 messages at 36000/hour took %s, want at least 300ms", d)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	f := newFixture(t, 100)
	f.addStories(2, 50)
	ed := f.edition("2026-11-28")
	srv := smtptest.Start(t, nil)
	s := f.sender(t, srv.URL())
	s.Concurrency = 3
	if _, err := s.Send(f.ctx, ed, f.list); err != nil {
		t.Fatal(err)
	}
	if n := srv.Sessions(); n != 3 {
		t.Errorf("%d SMTP sessions for 100 messages and 3 workers, want 3", n)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
}

// A relay that refuses the sender with 5xx fails the recipients of that
// run; once the relay is fixed, --retry-failed reaches exactly them, and
// a plain rerun leaves failed ones alone.
func TestRetryFailedAfterRelayFix(t *testing.T) {
	f := newFixture(t, 4)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	var refuse atomic.Bool
	refuse.Store(true)
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			if refuse.Load() && to == "sub00002@example.org" {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 3 || sum.Failed != 1 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	refuse.Store(false)
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 0 || sum.FailedBefore != 1 {
		t.Fatalf("plain rerun must leave failed ones alone: %+v, %v", sum, err)
	}
	s.RetryFailed = true
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 1 || sum.Already != 3 {
		t.Fatalf("--retry-failed: %+v, %v", sum, err)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
}

// BounceLimit 0 means never, as bounce_limit = 0 does in digest.toml: the
// zero value is no hidden default of 3.
func TestBounceLimitZeroNeverBounces(t *testing.T) {
	f := newFixture(t, 2)
	f.addStories(3, 100)
	const bad = "sub00001@example.org"
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			if to == bad {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	s.BounceLimit = 0
	for _, date := range []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"} {
		sum, err := s.Send(f.ctx, f.edition(date), f.list)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failed != 1 || sum.Bounced != 0 {
			t.Fatalf("%s: %+v, want the refused address failed and nobody bounced", date, sum)
		}
	}
	if got := f.membership(bad); got != "active" {
		t.Errorf("after four refusals in a row with BounceLimit 0 the membership is %s, want active", got)
	}
}
