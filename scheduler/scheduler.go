// Package scheduler sends each list's digest on the list's cron schedule
// in its time zone: the heart of `digest serve`.
//
// The rules it keeps:
//
//   - One edition per list per local date. A run is recorded in
//     schedule_runs under (list, date); a second fire on the same date (the
//     autumn's repeated hour, a catch-up after a restart, a schedule that
//     fires twice a day) finds the date settled and sends nothing.
//   - One sending process per database. Every serve process competes for
//     a lease row; only the holder fires, and it renews the lease every
//     third of its length. A holder that cannot renew stops its runs
//     before the lease can expire; a standby takes over once it has.
//   - Catch-up. On start, on taking the lease and at every reload tick,
//     each list's latest fire time is checked: if its date is not settled
//     and it is at most Grace old, it runs now (an interrupted delivery
//     resumes, sending nobody twice); if it is older, it is skipped with a
//     log line, since a morning digest at night is worse than none.
//   - No overlap, no crash: each list's job is wrapped in robfig/cron's
//     SkipIfStillRunning and Recover, once, and the wrapper is kept when
//     the list's schedule changes. A panicking run is recorded as failed.
//   - Shutdown: cancelling Run's context stops new fires, cancels running
//     deliveries between messages (the one in flight finishes and is
//     recorded), waits for them and releases the lease.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/lease"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/schedule"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// Defaults of the Scheduler's settings.
const (
	DefaultGrace      = 3 * time.Hour
	DefaultReload     = time.Minute
	DefaultLeaseTTL   = 30 * time.Second
	DefaultRetryAfter = 5 * time.Minute
)

// leaseName is the one lease all serve processes on a database compete
// for: its holder fires the schedules.
const leaseName = "scheduler"

// onTime is how late a fire may run and still count as on time, so that
// a grace period of 0 (no catch-up) does not skip the fires themselves.
const onTime = time.Minute

// DeliverFunc sends an edition to its list; digest serve passes a
// closure over (*delivery.Sender).Send.
type DeliverFunc func(ctx context.Context, ed digest.Edition, list subscribers.List) (delivery.Summary, error)

// Scheduler fires each list's runs. Set the exported fields, then call
// Run once.
type Scheduler struct {
	DB       *store.DB
	Subs     *subscribers.Store
	Editions *digest.Editions
	Composer digest.Composer
	Deliver  DeliverFunc
	// Metrics, when set, receives the run outcomes.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Now is the clock for decisions (catch-up, lease, dates); nil means
	// time.Now. Cron itself fires on the real clock.
	Now func() time.Time

	// Grace is how late a missed fire may still be sent (DefaultGrace
	// is 3 h). Zero catches nothing up; a fire up to a minute late still
	// counts as on time.
	Grace time.Duration
	// Reload is how often lists are reread and missed fires checked.
	Reload time.Duration
	// LeaseTTL is the length of the sending lease.
	LeaseTTL time.Duration
	// RetryAfter is the wait before a failed run is tried again within
	// the grace period.
	RetryAfter time.Duration
	// WithSeconds makes schedules six-field, with leading seconds (tests).
	WithSeconds bool
	// Holder names this process in the lease row; empty makes one from
	// the host name, the process id and a random suffix.
	Holder string

	mu           sync.Mutex
	jobs         map[int64]*listJob
	cron         *cron.Cron
	lease        *lease.Lease
	runs         runs
	leader       bool
	leaderCtx    context.Context
	leaderCancel context.CancelFunc
	leaseExpires time.Time
	lastHolder   string
	wg           sync.WaitGroup
}

func (s *Scheduler) now() time.Time { return clock.Now(s.Now) }

func (s *Scheduler) setDefaults() {
	if s.Grace < 0 {
		s.Grace = 0
	}
	if s.Reload <= 0 {
		s.Reload = DefaultReload
	}
	if s.LeaseTTL <= 0 {
		s.LeaseTTL = DefaultLeaseTTL
	}
	if s.RetryAfter <= 0 {
		s.RetryAfter = DefaultRetryAfter
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Holder == "" {
		s.Holder = NewHolderID()
	}
}

// NewHolderID names a process for the lease: host, pid and a random
// suffix, so two processes never share a name even in one container.
func NewHolderID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Leader reports whether this process holds the sending lease.
func (s *Scheduler) Leader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

// Run schedules every list and blocks until ctx is cancelled and the
// running deliveries have stopped. It returns an error only when the
// lists cannot be read at start.
func (s *Scheduler) Run(ctx context.Context) error {
	s.setDefaults()
	s.jobs = map[int64]*listJob{}
	host, _ := os.Hostname()
	s.lease = &lease.Lease{DB: s.DB, Name: leaseName, Holder: s.Holder, Token: s.Holder,
		PID: os.Getpid(), Host: host, TTL: s.LeaseTTL, Now: s.now}
	s.runs = runs{s.DB}
	s.cron = cron.New(cron.WithLogger(cronLogger{l: s.Logger.With("component", "cron")}))
	if err := s.reload(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.initMetrics(ctx)
	s.Logger.Info("scheduler started", "holder", s.Holder, "grace", s.Grace.String(), "reload", s.Reload.String(), "lease", s.LeaseTTL.String())
	s.leaseStep(ctx)
	s.cron.Start()

	leaseTick := time.NewTicker(s.LeaseTTL / 3)
	defer leaseTick.Stop()
	reloadTick := time.NewTicker(s.Reload)
	defer reloadTick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-leaseTick.C:
			s.leaseStep(ctx)
		case <-reloadTick.C:
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Error("cannot reread lists; keeping the schedules already loaded", "err", err)
			}
			s.Check(ctx)
		}
	}
}

// shutdown stops new fires, waits for running deliveries (their context,
// derived from Run's, is already cancelled, so they stop after the
// message in flight) and gives the lease up.
func (s *Scheduler) shutdown() {
	s.Logger.Info("stopping: no new fires; waiting for running deliveries to finish their messages in flight")
	stopped := s.cron.Stop()
	<-stopped.Done()
	s.wg.Wait()
	s.mu.Lock()
	wasLeader := s.leader
	if s.leaderCancel != nil {
		s.leaderCancel()
	}
	s.leader = false
	s.mu.Unlock()
	if wasLeader {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.lease.Release(ctx); err != nil {
			s.Logger.Warn("could not release the lease; a standby takes over when it expires", "err", err)
		}
		s.setLeaderMetric(false)
	}
	s.Logger.Info("scheduler stopped")
}

func (s *Scheduler) initMetrics(ctx context.Context) {
	if s.Metrics == nil {
		return
	}
	last, err := s.runs.lastSuccesses(ctx)
	if err != nil {
		s.Logger.Warn("cannot read past runs for the metrics", "err", err)
		return
	}
	if len(last) == 0 {
		return
	}
	// The metrics are per list name, which the lists' owner holds.
	lists, err := s.Subs.ScheduledLists(ctx)
	if err != nil {
		s.Logger.Warn("cannot read the lists for the metrics", "err", err)
		return
	}
	for _, l := range lists {
		if t, ok := last[l.ID]; ok {
			s.Metrics.Succeeded(l.Name, t)
		}
	}
}

func (s *Scheduler) setLeaderMetric(on bool) {
	if s.Metrics == nil {
		return
	}
	if on {
		s.Metrics.Leader.Set(1)
	} else {
		s.Metrics.Leader.Set(0)
	}
}

// leaseStep takes or renews the lease, and runs catch-up on taking it.
func (s *Scheduler) leaseStep(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := s.now()
	ok, expires, err := s.lease.Acquire(ctx)
	if ctx.Err() != nil {
		return
	}
	became := false
	s.mu.Lock()
	switch {
	case err != nil:
		s.Logger.Warn("cannot renew the sending lease", "err", err)
		// Stop sending while the lease is surely still ours, before a
		// standby may take it.
		if s.leader && !now.Before(s.leaseExpires.Add(-s.LeaseTTL/3)) {
			s.loseLocked("the lease could not be renewed in time")
		}
	case ok:
		s.leaseExpires = expires
		if !s.leader {
			s.leader = true
			s.leaderCtx, s.leaderCancel = context.WithCancel(ctx)
			s.lastHolder = ""
			became = true
		}
	default:
		if s.leader {
			s.loseLocked("another process holds the lease")
		}
		if cur, _, err := s.lease.Current(ctx); err == nil && cur.Holder != s.lastHolder {
			holder := cur.Holder
			s.lastHolder = holder
			s.Logger.Info("standby: another digest serve process holds the sending lease; this one only serves HTTP until it takes over", "holder", holder)
		}
	}
	s.mu.Unlock()
	if became {
		s.setLeaderMetric(true)
		s.Logger.Info("holding the sending lease: this process sends the scheduled digests", "holder", s.Holder)
		s.Check(ctx)
	}
}

// loseLocked stops sending after losing the lease; s.mu is held.
func (s *Scheduler) loseLocked(why string) {
	s.leader = false
	if s.leaderCancel != nil {
		s.leaderCancel()
	}
	s.setLeaderMetric(false)
	s.Logger.Warn("lost the sending lease: stopping running deliveries", "reason", why)
}

// leaderContext is the context runs use, or nil when this process does
// not hold the lease.
func (s *Scheduler) leaderContext() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leader {
		return nil
	}
	return s.leaderCtx
}

// reload rereads the lists and (re)schedules those whose schedule or zone
// changed; an invalid one is reported once per change and left out.
func (s *Scheduler) reload(ctx context.Context) error {
	lists, err := s.Subs.ScheduledLists(ctx)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int64]bool{}
	for _, l := range lists {
		seen[l.ID] = true
		j := s.jobs[l.ID]
		if j == nil {
			j = &listJob{s: s, listID: l.ID}
			// SkipIfStillRunning outside Recover: in robfig/cron v3.0.1
			// SkipIfStillRunning does not give its token back when the job
			// panics (robfig/cron#366), so with Recover outside it one
			// panic would skip the list forever.
			j.wrapped = cron.NewChain(cron.SkipIfStillRunning(j), cron.Recover(j)).Then(j)
			s.jobs[l.ID] = j
		} else if j.expr == l.Schedule && j.zone == l.TimeZone && j.name == l.Name {
			continue
		}
		changed := j.loaded
		j.name, j.expr, j.zone, j.loaded = l.Name, l.Schedule, l.TimeZone, true
		if j.scheduled {
			s.cron.Remove(j.entry)
			j.scheduled = false
		}
		sched, err := s.parse(l)
		if err != nil {
			j.valid = false
			s.Logger.Error("list not scheduled: "+err.Error()+"; fix it with digest lists update "+l.Name+" --schedule/--tz; the other lists still run",
				"list", l.Name)
			continue
		}
		j.sched, j.valid, j.scheduled = sched, true, true
		if s.Metrics != nil {
			s.Metrics.InitList(l.Name)
		}
		j.entry = s.cron.Schedule(sched, j.wrapped)
		msg := "list scheduled"
		if changed {
			msg = "list rescheduled"
		}
		s.Logger.Info(msg, "list", l.Name, "schedule", l.Schedule, "tz", sched.Location().String(),
			"next", sched.NextEdition(s.now()).In(sched.Location()).Format(time.RFC3339))
	}
	for id, j := range s.jobs {
		if !seen[id] {
			if j.scheduled {
				s.cron.Remove(j.entry)
			}
			delete(s.jobs, id)
			s.Logger.Info("list removed: no longer scheduled", "list", j.name)
		}
	}
	return nil
}

// parse reads a list's schedule as lists show does (List.NextRun), with
// a seconds field in tests.
func (s *Scheduler) parse(l subscribers.List) (schedule.Schedule, error) {
	if s.WithSeconds {
		return schedule.ParseWithSeconds(l.Schedule, l.TimeZone)
	}
	return schedule.Parse(l.Schedule, l.TimeZone)
}

// Check starts, for every valid list that is not running, the run its
// latest fire calls for: a catch-up, a resume, a retry or a logged skip.
// Run calls it on taking the lease and at every reload tick.
func (s *Scheduler) Check(ctx context.Context) {
	if s.leaderContext() == nil || ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	var due []*listJob
	for _, j := range s.jobs {
		if j.valid && !j.running.Load() && !j.queued.Load() {
			due = append(due, j)
		}
	}
	s.mu.Unlock()
	now := s.now()
	for _, j := range due {
		sched, _ := j.schedule()
		d, err := s.decide(ctx, j.listID, sched, now)
		if err != nil {
			s.Logger.Error("cannot check for a missed fire", "list", j.name, "err", err)
			continue
		}
		if d.action == actNone || !j.queued.CompareAndSwap(false, true) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer j.queued.Store(false)
			j.wrapped.Run()
		}()
	}
}

type action int

const (
	actNone action = iota
	actRun
	actSkip
)

type decision struct {
	action action
	fire   time.Time
	date   string
	resume bool
}

// decide says what the list's latest fire at or before now calls for.
func (s *Scheduler) decide(ctx context.Context, listID int64, sched schedule.Schedule, now time.Time) (decision, error) {
	fire := sched.Latest(now, s.Grace+26*time.Hour)
	if fire.IsZero() {
		return decision{}, nil
	}
	d := decision{fire: fire, date: sched.Date(fire)}
	r, found, err := s.runs.get(ctx, listID, d.date)
	if err != nil {
		return d, err
	}
	if found {
		if r.settled() {
			return d, nil
		}
		if (r.Outcome == OutcomeFailed || r.Outcome == OutcomeDeferred) && now.Sub(r.FinishedAt) < s.RetryAfter {
			return d, nil
		}
		d.resume = true
	}
	if now.Sub(fire) > max(s.Grace, onTime) {
		d.action = actSkip
		return d, nil
	}
	d.action = actRun
	return d, nil
}

// listJob is one list's cron job. Its wrapped form (Recover and
// SkipIfStillRunning) is made once and survives reschedules, so a fire
// under a new schedule cannot overlap a run under the old one.
type listJob struct {
	s       *Scheduler
	listID  int64
	wrapped cron.Job
	running atomic.Bool
	queued  atomic.Bool // a Check has started the job and it has not returned

	// Guarded by s.mu.
	name, expr, zone string
	loaded, valid    bool
	scheduled        bool
	sched            schedule.Schedule
	entry            cron.EntryID
}

func (j *listJob) schedule() (schedule.Schedule, string) {
	j.s.mu.Lock()
	defer j.s.mu.Unlock()
	return j.sched, j.name
}

// Run implements cron.Job: a fire, a catch-up or a retry.
func (j *listJob) Run() {
	j.running.Store(true)
	defer j.running.Store(false)
	j.s.runList(j)
}

// Info and Error make listJob the logger of its own cron wrappers, so
// their lines name the list.
func (j *listJob) Info(msg string, kv ...any) {
	_, name := j.schedule()
	if msg == "skip" {
		j.s.Logger.Warn("fire skipped: the previous run of this list is still running", "list", name)
		return
	}
	j.s.Logger.Info(msg, append([]any{"list", name}, kv...)...)
}

func (j *listJob) Error(err error, msg string, kv ...any) {
	_, name := j.schedule()
	if msg == "panic" {
		msg = "run panicked and was recovered; the next fire or check tries again"
	}
	j.s.Logger.Error(msg, append([]any{"list", name, "err", err}, kv...)...)
}

func (s *Scheduler) runList(j *listJob) {
	ctx := s.leaderContext()
	if ctx == nil {
		return // standby
	}
	sched, name := j.schedule()
	log := s.Logger.With("list", name)
	now := s.now()
	// The lease may have changed hands since the last renewal: confirm
	// it in the database before deciding anything.
	ok, expires, err := s.lease.Acquire(ctx)
	if err != nil || !ok {
		if ctx.Err() == nil {
			log.Warn("fire not taken: the sending lease could not be confirmed", "err", err)
		}
		return
	}
	s.mu.Lock()
	s.leaseExpires = expires
	s.mu.Unlock()

	d, err := s.decide(ctx, j.listID, sched, now)
	if err != nil {
		log.Error("cannot read the list's runs", "err", err)
		return
	}
	log = log.With("date", d.date, "fire", d.fire.In(sched.Location()).Format(time.RFC3339))
	switch d.action {
	case actNone:
		log.Debug("fire: this date's run is already done")
		return
	case actSkip:
		reason := fmt.Sprintf("it is %s old, beyond the %s grace period", now.Sub(d.fire).Round(time.Second), s.Grace)
		if err := s.runs.skip(context.WithoutCancel(ctx), j.listID, d.date, d.fire, now, s.Holder, reason); err != nil {
			log.Error("cannot record the skipped run", "err", err)
			return
		}
		s.countRun(name, OutcomeSkipped)
		log.Warn("missed fire skipped: " + reason + "; send it by hand with digest send if it is still wanted")
		return
	}
	list, err := s.Subs.GetListByID(ctx, j.listID)
	if err != nil {
		log.Error("cannot read the list", "err", err)
		return
	}
	s.execute(ctx, log, list, d, now)
}

// execute builds the date's edition and delivers it, recording the run.
func (s *Scheduler) execute(ctx context.Context, log *slog.Logger, list subscribers.List, d decision, now time.Time) {
	switch {
	case d.resume:
		log.Info("resuming the date's run")
	case now.Sub(d.fire) > onTime:
		log.Info("catching up a missed fire", "late", now.Sub(d.fire).Round(time.Second).String())
	default:
		log.Info("fire")
	}
	if err := s.runs.start(ctx, list.ID, d.date, d.fire, now, s.Holder); err != nil {
		log.Error("cannot record the run", "err", err)
		return
	}
	record := func(outcome string, editionID int64, sum delivery.Summary, runErr error) {
		text := ""
		if runErr != nil {
			text = runErr.Error()
		}
		if err := s.runs.finish(context.WithoutCancel(ctx), list.ID, d.date, outcome, editionID, sum, text, s.now()); err != nil {
			log.Error("cannot record the run's end", "err", err)
		}
		s.countRun(list.Name, outcome)
		if (outcome == OutcomeSent || outcome == OutcomeNothingNew || outcome == OutcomeDeferred) && s.Metrics != nil {
			s.Metrics.Succeeded(list.Name, s.now())
		}
	}
	defer func() {
		// A panic is logged by cron.Recover; record the run as failed
		// first, so it is retried after RetryAfter, not at once.
		if r := recover(); r != nil {
			record(OutcomeFailed, 0, delivery.Summary{}, fmt.Errorf("panic: %v", r))
			panic(r)
		}
	}()
	failed := func() string {
		if ctx.Err() != nil {
			return OutcomeInterrupted
		}
		return OutcomeFailed
	}

	ed, created, err := s.Editions.Build(ctx, s.Composer, list, d.date, false)
	if errors.Is(err, digest.ErrNothingNew) {
		record(OutcomeNothingNew, 0, delivery.Summary{}, nil)
		log.Info("no edition and no mail: nothing new was published", "why", err.Error())
		return
	}
	if err != nil {
		outcome := failed()
		record(outcome, 0, delivery.Summary{}, err)
		log.Error("cannot build the edition", "outcome", outcome, "err", err)
		return
	}
	if created {
		if s.Metrics != nil {
			s.Metrics.EditionsBuilt.WithLabelValues(list.Name).Inc()
		}
		log.Info("edition built", "edition", ed.ID, "stories", len(ed.StoryIDs), "subject", ed.Subject)
	}
	sum, err := s.Deliver(ctx, ed, list) // Send reports its own Duration
	if err == nil && ctx.Err() != nil {
		// Stopped at the end or just after: call it interrupted, so the
		// next start makes sure; a resume sends nobody twice.
		err = ctx.Err()
	}
	if s.Metrics != nil {
		s.Metrics.Delivered(list.Name, sum.Sent, sum.Deferred, sum.Failed, sum.Unknown, sum.Duration)
	}
	attrs := []any{"edition", ed.ID, "sent", sum.Sent, "already", sum.Already, "deferred", sum.Deferred,
		"failed", sum.Failed, "unknown", sum.Unknown, "duration", sum.Duration.Round(time.Millisecond).String()}
	if err != nil {
		outcome := failed()
		record(outcome, ed.ID, sum, err)
		if outcome == OutcomeInterrupted {
			log.Info("delivery interrupted: the messages in flight finished and are recorded; catch-up resumes it within the grace period", attrs...)
		} else {
			log.Error("delivery stopped; it is retried within the grace period", append(attrs, "err", err.Error())...)
		}
		return
	}
	if sum.Deferred > 0 {
		record(OutcomeDeferred, ed.ID, sum, nil)
		log.Warn("edition delivered but some recipients were deferred by the relay; they are retried within the grace period", attrs...)
		return
	}
	record(OutcomeSent, ed.ID, sum, nil)
	if sum.Unknown > 0 {
		// Not retried by the daemon: the relay may have delivered them.
		log.Warn("edition delivered but the relay never answered for some messages (unknown outcome); check with the relay, then run digest send --retry-unknown to send them again", attrs...)
		return
	}
	log.Info("edition delivered", attrs...)
}

func (s *Scheduler) countRun(list, outcome string) {
	if s.Metrics != nil {
		s.Metrics.Runs.WithLabelValues(list, outcome).Inc()
	}
}

// cronLogger passes robfig/cron's own chatter to slog at debug level and
// its errors at error level.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append([]any{"err", err}, kv...)...)
}
