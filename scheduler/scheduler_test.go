package scheduler

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/schedule"
	"github.com/newsroom/digest/subscribers"
)

// secondsSpec is a six-field schedule firing once a day at t (UTC).
func secondsSpec(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%d %d %d * * *", t.Second(), t.Minute(), t.Hour())
}

func TestFireSendsOnce(t *testing.T) {
	e, _ := newEnv(t, time.Time{}, nil)
	fireAt := time.Now().Add(3 * time.Second).Truncate(time.Second)
	id := e.setSchedule(subscribers.DefaultList, secondsSpec(fireAt), "UTC")
	e.subscribe(subscribers.DefaultList, 5)
	e.story("Morning news", time.Hour)
	s := e.scheduler(func(s *Scheduler) { s.WithSeconds = true; s.Grace = 0 })
	stop := e.start(s)

	date := fireAt.UTC().Format(digest.DateLayout)
	r := e.waitOutcome(id, date)
	if r.Outcome != OutcomeSent || r.Sent != 5 {
		t.Fatalf("run: outcome %s, sent %d; want sent 5\n%s", r.Outcome, r.Sent, e.logs)
	}
	if !r.FireAt.Equal(fireAt) {
		t.Errorf("run fire time %s, want the scheduled %s", r.FireAt, fireAt)
	}
	if !strings.Contains(e.logs.String(), "msg=fire ") {
		t.Errorf("the send was not started by the cron fire:\n%s", e.logs)
	}
	// The same date again, as a catch-up check and as a second fire (a
	// schedule in the autumn's repeated hour) would: nothing more.
	s.Check(e.ctx)
	s.jobs[id].wrapped.Run()
	stop()
	e.assertOncePerRecipient(5)
	if n := e.count(`SELECT COUNT(*) FROM editions`); n != 1 {
		t.Errorf("%d editions, want 1", n)
	}
	if got := testutil.ToFloat64(s.Metrics.MessagesSent.WithLabelValues("daily")); got != 5 {
		t.Errorf("digest_messages_sent_total = %v, want 5", got)
	}
	if got := testutil.ToFloat64(s.Metrics.EditionsBuilt.WithLabelValues("daily")); got != 1 {
		t.Errorf("digest_editions_built_total = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(s.Metrics.SendDuration); n != 1 {
		t.Errorf("digest_send_duration_seconds has %d series, want 1", n)
	}
	mfs, err := s.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "digest_send_duration_seconds" {
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() <= 0 {
				t.Errorf("send duration: %d samples summing to %v s, want one above 0", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
	if got := testutil.ToFloat64(s.Metrics.LastSuccess.WithLabelValues("daily")); got < float64(fireAt.Unix()) {
		t.Errorf("digest_last_success_timestamp_seconds = %v, want at least %d", got, fireAt.Unix())
	}
}

func TestTwoDaemonsOnOneDatabaseSendOnce(t *testing.T) {
	e, _ := newEnv(t, time.Time{}, nil)
	fireAt := time.Now().Add(3 * time.Second).Truncate(time.Second)
	id := e.setSchedule(subscribers.DefaultList, secondsSpec(fireAt), "UTC")
	e.subscribe(subscribers.DefaultList, 8)
	e.story("Morning news", time.Hour)
	cfg := func(s *Scheduler) { s.WithSeconds = true; s.Grace = time.Hour }
	a, b := e.scheduler(cfg), e.scheduler(cfg)
	stopA := e.start(a)
	stopB := e.start(b)

	r := e.waitOutcome(id, fireAt.UTC().Format(digest.DateLayout))
	if r.Outcome != OutcomeSent {
		t.Fatalf("outcome %s\n%s", r.Outcome, e.logs)
	}
	if a.Leader() == b.Leader() {
		t.Fatalf("leaders: a %v, b %v; want exactly one", a.Leader(), b.Leader())
	}
	if !strings.Contains(e.logs.String(), "standby") {
		t.Error("the standby did not say so")
	}
	// The sender stops; the standby takes the lease over and, finding the
	// date settled, sends nothing again.
	leader, standby, stopLeader, stopStandby := a, b, stopA, stopB
	if b.Leader() {
		leader, standby, stopLeader, stopStandby = b, a, stopB, stopA
	}
	stopLeader()
	if leader.Leader() {
		t.Error("a stopped scheduler still claims the lease")
	}
	e.waitFor("the standby to take the lease over", standby.Leader)
	standby.Check(e.ctx)
	stopStandby()
	e.assertOncePerRecipient(8)
	if n := e.count(`SELECT COUNT(*) FROM deliveries WHERE status = 'sent'`); n != 8 {
		t.Errorf("%d deliveries recorded, want 8", n)
	}
}

func TestCatchUp(t *testing.T) {
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		now     time.Time
		grace   time.Duration
		outcome string
		sent    int
		log     string
	}{
		{"inside the grace period", day.Add(7*time.Hour + 30*time.Minute), 3 * time.Hour, OutcomeSent, 4, "catching up a missed fire"},
		{"outside the grace period", day.Add(9*time.Hour + 30*time.Minute), 3 * time.Hour, OutcomeSkipped, 0, "missed fire skipped: it is 3h30m0s old, beyond the 3h0m0s grace period"},
		{"grace zero", day.Add(6*time.Hour + 5*time.Minute), 0, OutcomeSkipped, 0, "missed fire skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEnv(t, tt.now, nil)
			id := dailyID(e)
			e.subscribe(subscribers.DefaultList, 4)
			e.story("Overnight news", 3*time.Hour)
			s := e.scheduler(func(s *Scheduler) { s.Grace = tt.grace })
			stop := e.start(s)
			r := e.waitOutcome(id, "2026-11-27")
			stop()
			if r.Outcome != tt.outcome || len(e.smtp.Messages()) != tt.sent {
				t.Fatalf("outcome %s with %d messages; want %s with %d\n%s", r.Outcome, len(e.smtp.Messages()), tt.outcome, tt.sent, e.logs)
			}
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Errorf("logs lack %q:\n%s", tt.log, e.logs)
			}
			if tt.sent == 0 && e.count(`SELECT COUNT(*) FROM editions`) != 0 {
				t.Error("a skipped fire built an edition")
			}
			// A restart after a skip does not send it either.
			s2 := e.scheduler(func(s *Scheduler) { s.Grace = tt.grace })
			stop2 := e.start(s2)
			e.waitFor("the restarted scheduler to lead", s2.Leader)
			s2.Check(e.ctx)
			stop2()
			if len(e.smtp.Messages()) != tt.sent {
				t.Errorf("after a restart the server has %d messages, want %d", len(e.smtp.Messages()), tt.sent)
			}
		})
	}
}

func TestNothingNewSendsNothing(t *testing.T) {
	e, _ := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), nil)
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 3)
	s := e.scheduler(nil)
	stop := e.start(s)
	r := e.waitOutcome(id, "2026-11-27")
	stop()
	if r.Outcome != OutcomeNothingNew || len(e.smtp.Messages()) != 0 || e.count(`SELECT COUNT(*) FROM editions`) != 0 {
		t.Fatalf("outcome %s, %d messages", r.Outcome, len(e.smtp.Messages()))
	}
	if !strings.Contains(e.logs.String(), "no edition and no mail: nothing new was published") {
		t.Errorf("no log line says nothing was new:\n%s", e.logs)
	}
}

// A delivery cancelled mid-send (as SIGTERM does) keeps every accepted
// message recorded; the next start resumes and nobody gets two.
func TestStopDuringDeliveryLosesAndRepeatsNothing(t *testing.T) {
	e, _ := newEnv(t, time.Date(2026, 11, 27, 6, 20, 0, 0, time.UTC), func(s *smtptest.Server) { s.Delay = 30 * time.Millisecond })
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 20)
	e.story("Overnight news", 3*time.Hour)
	s := e.scheduler(nil)
	stop := e.start(s)
	e.waitFor("a few messages", func() bool { return len(e.smtp.Messages()) >= 3 })
	stop()
	accepted := len(e.smtp.Messages())
	r, _ := e.run(id, "2026-11-27")
	if r.Outcome != OutcomeInterrupted {
		t.Fatalf("outcome %s, want interrupted\n%s", r.Outcome, e.logs)
	}
	if accepted == 20 {
		t.Fatal("the delivery finished before the stop; the test proves nothing")
	}
	if n := e.count(`SELECT COUNT(*) FROM deliveries WHERE status = 'sent'`); n != accepted {
		t.Fatalf("ledger has %d sent, the server accepted %d: a message was lost or recorded falsely", n, accepted)
	}

	s2 := e.scheduler(nil)
	stop2 := e.start(s2)
	e.waitFor("the resumed run to end", func() bool {
		r, _ = e.run(id, "2026-11-27")
		return r.Outcome == OutcomeSent
	})
	stop2()
	if r.Outcome != OutcomeSent || r.Sent != 20 {
		t.Fatalf("resumed run: outcome %s, sent %d in all; want sent 20\n%s", r.Outcome, r.Sent, e.logs)
	}
	if !strings.Contains(e.logs.String(), "resuming the date's run") {
		t.Errorf("no log line says the run was resumed:\n%s", e.logs)
	}
	e.assertOncePerRecipient(20)
}

func TestInvalidScheduleOrZoneIsReportedAndSkipped(t *testing.T) {
	e, _ := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), nil)
	id := dailyID(e)
	e.setSchedule("badcron", "61 6 * * *", "UTC")
	e.setSchedule("badzone", "0 6 * * *", "Mars/Olympus_Mons")
	e.setSchedule("interval", "@every 1h", "UTC")
	for _, l := range []string{"daily", "badcron", "badzone", "interval"} {
		e.subscribe(l, 2)
	}
	e.story("News", time.Hour)
	s := e.scheduler(func(s *Scheduler) { s.Reload = 100 * time.Millisecond })
	stop := e.start(s)
	r := e.waitOutcome(id, "2026-11-27")
	if r.Outcome != OutcomeSent || r.Sent != 2 {
		t.Fatalf("the valid list: outcome %s, sent %d\n%s", r.Outcome, r.Sent, e.logs)
	}
	logs := e.logs.String()
	for _, want := range []string{`list=badcron`, `schedule \"61 6 * * *\" is not a five-field cron expression`,
		`list=badzone`, `time zone \"Mars/Olympus_Mons\" is not an IANA zone name`, `list=interval`, `is an interval`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if n := e.count(`SELECT COUNT(*) FROM schedule_runs`); n != 1 {
		t.Errorf("%d runs, want only the valid list's", n)
	}

	// Fixing the list is picked up at the next reload tick, without a
	// restart, and its missed fire is caught up.
	badcron := e.setSchedule("badcron", "0 6 * * *", "UTC")
	r = e.waitOutcome(badcron, "2026-11-27")
	stop()
	if r.Outcome != OutcomeSent || r.Sent != 2 {
		t.Fatalf("the fixed list: outcome %s, sent %d\n%s", r.Outcome, r.Sent, e.logs)
	}
	logs = e.logs.String()
	if !strings.Contains(logs, `msg="list rescheduled" list=badcron`) {
		t.Errorf("no log line says the fixed list was rescheduled:\n%s", logs)
	}
	// Reloads do not repeat the report of an unchanged invalid list.
	if n := strings.Count(logs, "list not scheduled"); n != 3 {
		t.Errorf("%d invalid-list lines across reloads, want 3 (one per list):\n%s", n, logs)
	}
}

func TestAutumnRepeatedHourSendsOnce(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	sched, err := schedule.Parse("30 1 * * *", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// 1 November 2026: clocks go back from 02:00 EDT to 01:00 EST.
	first := sched.Next(time.Date(2026, 11, 1, 0, 0, 0, 0, ny))
	second := sched.Next(first)
	if second.Sub(first) != time.Hour || first.In(ny).Format("15:04") != "01:30" || second.In(ny).Format("15:04") != "01:30" {
		t.Fatalf("fires %s and %s: want 01:30 twice, an hour apart", first, second)
	}

	e, c := newEnv(t, first.Add(time.Second), nil)
	id := e.setSchedule(subscribers.DefaultList, "30 1 * * *", "America/New_York")
	e.subscribe(subscribers.DefaultList, 3)
	e.story("News", time.Hour)
	s := e.scheduler(nil)
	stop := e.start(s)
	r := e.waitOutcome(id, "2026-11-01")
	if r.Outcome != OutcomeSent {
		t.Fatalf("first 01:30: %s\n%s", r.Outcome, e.logs)
	}
	e.story("Later news", 0)
	c.Set(second.Add(time.Second))
	s.jobs[id].wrapped.Run() // the second 01:30 fires
	stop()
	e.assertOncePerRecipient(3)
	if n := e.count(`SELECT COUNT(*) FROM editions`); n != 1 {
		t.Errorf("%d editions for one local date, want 1", n)
	}
}

func TestPanickingRunIsRecovered(t *testing.T) {
	e, c := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), nil)
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 2)
	e.story("News", time.Hour)
	var panicked atomic.Bool
	s := e.scheduler(func(s *Scheduler) { s.RetryAfter = time.Millisecond })
	deliver := s.Deliver
	s.Deliver = func(ctx context.Context, ed digest.Edition, l subscribers.List) (delivery.Summary, error) {
		if panicked.CompareAndSwap(false, true) {
			panic("boom")
		}
		return deliver(ctx, ed, l)
	}
	stop := e.start(s)
	e.waitFor("the panic", panicked.Load)
	e.waitFor("the recovery log line", func() bool { return strings.Contains(e.logs.String(), "run panicked and was recovered") })
	r, _ := e.run(id, "2026-11-27")
	if r.Outcome != OutcomeFailed || !strings.Contains(r.Error, "panic: boom") {
		t.Fatalf("the panicked run is recorded as %s (%q), want failed", r.Outcome, r.Error)
	}
	// The process lives on; a check after RetryAfter retries the date.
	c.Set(c.Now().Add(time.Second))
	e.waitFor("the retry to send", func() bool {
		s.Check(e.ctx)
		r, _ = e.run(id, "2026-11-27")
		return r.Outcome == OutcomeSent
	})
	stop()
	if r.Outcome != OutcomeSent {
		t.Fatalf("after the panic: %s\n%s", r.Outcome, e.logs)
	}
	e.assertOncePerRecipient(2)
}

func TestOverlappingFireIsSkipped(t *testing.T) {
	e, _ := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), nil)
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 2)
	e.story("News", time.Hour)
	release := make(chan struct{})
	var entered atomic.Int32
	s := e.scheduler(nil)
	deliver := s.Deliver
	s.Deliver = func(ctx context.Context, ed digest.Edition, l subscribers.List) (delivery.Summary, error) {
		entered.Add(1)
		<-release
		return deliver(ctx, ed, l)
	}
	stop := e.start(s)
	e.waitFor("the first run to start delivering", func() bool { return entered.Load() == 1 })
	s.jobs[id].wrapped.Run() // a fire while the run is still going
	if !strings.Contains(e.logs.String(), "fire skipped: the previous run of this list is still running") {
		t.Errorf("the overlapping fire was not skipped and logged:\n%s", e.logs)
	}
	close(release)
	r := e.waitOutcome(id, "2026-11-27")
	stop()
	if r.Outcome != OutcomeSent || entered.Load() != 1 {
		t.Fatalf("outcome %s, deliveries started %d", r.Outcome, entered.Load())
	}
	e.assertOncePerRecipient(2)
}

// A sender that finds its lease taken stops delivering between messages;
// when it holds the lease again, catch-up resumes without repeats.
func TestLosingTheLeaseStopsDelivery(t *testing.T) {
	e, _ := newEnv(t, time.Date(2026, 11, 27, 6, 20, 0, 0, time.UTC), func(s *smtptest.Server) { s.Delay = 300 * time.Millisecond })
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 40)
	e.story("Overnight news", 3*time.Hour)
	s := e.scheduler(nil)
	stop := e.start(s)
	e.waitFor("a few messages", func() bool { return len(e.smtp.Messages()) >= 3 })
	// Another process holds the lease now (as if ours had expired).
	e.exec(`UPDATE leases SET holder = 'someone-else', expires_at = ?`, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	e.waitFor("the run to be interrupted", func() bool {
		r, _ := e.run(id, "2026-11-27")
		return r.Outcome == OutcomeInterrupted
	})
	if s.Leader() {
		t.Fatal("the scheduler still claims the lease")
	}
	accepted := len(e.smtp.Messages())
	if accepted == 40 {
		t.Fatal("the delivery finished before the lease was lost; the test proves nothing")
	}
	if n := e.count(`SELECT COUNT(*) FROM deliveries WHERE status = 'sent'`); n != accepted {
		t.Fatalf("ledger %d, server %d", n, accepted)
	}
	// The other process goes away; ours takes over again and resumes.
	e.exec(`DELETE FROM leases`)
	e.waitFor("the resumed run", func() bool {
		r, _ := e.run(id, "2026-11-27")
		return r.Outcome == OutcomeSent
	})
	stop()
	if !strings.Contains(e.logs.String(), "lost the sending lease") {
		t.Errorf("no log line says the lease was lost:\n%s", e.logs)
	}
	e.assertOncePerRecipient(40)
}

// A recipient whose relay keeps answering 451 during the scheduled run is
// left deferred; the run is recorded as deferred (not settled), and a
// later check within the grace period retries exactly that recipient.
func TestDeferredRecipientsAreRetriedWithinGrace(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	e, c := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			if to == "reader001@example.com" && refuse.Load() {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
			return nil
		}
	})
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 3)
	e.story("News", time.Hour)
	s := e.scheduler(func(s *Scheduler) { s.RetryAfter = time.Minute })
	// As digest serve does: retry the edition's deferred deliveries.
	s.Deliver = e.deliverVia(s.DB, e.smtp.URL(), func(snd *delivery.Sender) {
		snd.RetryDeferred, snd.MaxAttempts, snd.RetryBase, snd.RetryMax = true, 2, time.Millisecond, time.Millisecond
	})
	stop := e.start(s)
	r := e.waitOutcome(id, "2026-11-27")
	if r.Outcome != OutcomeDeferred || r.Deferred != 1 || r.Sent != 2 {
		stop()
		t.Fatalf("first run: %s sent %d deferred %d, want deferred with 2 sent and 1 deferred\n%s", r.Outcome, r.Sent, r.Deferred, e.logs)
	}
	// Before RetryAfter nothing happens; after it, the retry reaches the
	// deferred recipient and settles the date.
	s.Check(e.ctx)
	if got := e.smtp.PerRecipient()["reader001@example.com"]; got != 0 {
		t.Fatalf("retried before RetryAfter: %d", got)
	}
	refuse.Store(false)
	c.Set(c.Now().Add(2 * time.Minute))
	e.waitFor("the retry to settle the date", func() bool {
		s.Check(e.ctx)
		r, _ = e.run(id, "2026-11-27")
		return r.Outcome == OutcomeSent
	})
	stop()
	e.assertOncePerRecipient(3)
}

// A scheduled run whose relay never answers the end of DATA in time
// says so in its log line (with the count) instead of a plain "edition
// delivered", and the daemon does not send those messages again.
func TestUnknownOutcomesAreLoggedAndNotRetried(t *testing.T) {
	e, c := newEnv(t, time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), func(s *smtptest.Server) {
		s.DataHook = func(smtptest.Message) error { time.Sleep(600 * time.Millisecond); return nil }
	})
	id := dailyID(e)
	e.subscribe(subscribers.DefaultList, 2)
	e.story("News", time.Hour)
	s := e.scheduler(func(s *Scheduler) { s.RetryAfter = time.Millisecond })
	s.Deliver = e.deliverVia(s.DB, e.smtp.URL()+"&timeout=200ms", nil)
	stop := e.start(s)
	e.waitOutcome(id, "2026-11-27")
	c.Set(c.Now().Add(time.Minute))
	s.Check(e.ctx)
	stop()
	e.waitFor("the late replies", func() bool { return e.smtp.Accepted() >= 2 })
	if logs := e.logs.String(); !strings.Contains(logs, "unknown=2") || !strings.Contains(logs, "digest send --retry-unknown") || strings.Contains(logs, `msg="edition delivered" `) {
		t.Errorf("the log does not say 2 outcomes are unknown:\n%s", logs)
	}
	e.assertOncePerRecipient(2)
	// /metrics counts them as unknown, not as sent or nothing at all.
	rec := httptest.NewRecorder()
	s.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`digest_messages_unknown_total{list="daily"} 2`, `digest_messages_sent_total{list="daily"} 0`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
