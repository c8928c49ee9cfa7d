package delivery

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/lease"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// Delivery statuses in the ledger.
const (
	StatusQueued   = "queued"
	StatusSent     = "sent"
	StatusDeferred = "deferred"
	StatusFailed   = "failed"
	// StatusUnknown: the whole message was sent but the relay's verdict
	// never came (timeout, dropped connection after the final "."). It
	// may have been delivered, so only send --retry-unknown sends again.
	StatusUnknown = "unknown"
)

// Summary counts what a run did.
type Summary struct {
	// Sent, Deferred, Failed and Unknown are this run's final outcomes.
	Sent     int
	Deferred int
	Failed   int
	Unknown  int
	// Already counts members who had the edition before the run.
	Already int
	// FailedBefore and DeferredBefore count members skipped because an
	// earlier run failed them, or deferred them and the run did not ask
	// for --retry-deferred.
	FailedBefore   int
	DeferredBefore int
	// UnknownBefore counts members skipped because an earlier run could
	// not learn whether the relay took their message, and the run did not
	// ask for --retry-unknown.
	UnknownBefore int
	// Retries counts attempts that failed temporarily and were tried
	// again in the same run.
	Retries int
	// Bounced counts subscribers this run marked bounced.
	Bounced int
	// Left counts members who unsubscribed or were erased during the run,
	// before their message was handed to the relay: not sent to.
	Left int
	// Held counts members whose preferences skip this edition (paused,
	// weekly readers on another day, chosen sections with no story).
	Held int
	// Variants is how many variants the run sent from, and Composed how
	// many of them it composed (the others were stored before).
	Variants, Composed int
	// Suppressed counts active members skipped because their address is
	// on the suppression list.
	Suppressed int
	// Pending is how many members the run set out to send to.
	Pending  int
	Duration time.Duration
	// Relays counts the outcomes per relay (one entry for a lone SMTP
	// relay, none for the outbox).
	Relays []RelaySummary
}

// Unreached counts the members who, after the run, are still without a
// confirmed delivery: this run's failed, deferred and unknown ones and
// those an earlier run left so.
func (s Summary) Unreached() int {
	return s.Failed + s.Deferred + s.Unknown + s.FailedBefore + s.DeferredBefore + s.UnknownBefore
}

// Rate is messages accepted per second.
func (s Summary) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Duration.Seconds()
}

// Progress is a snapshot of a running send, taken after each ledger
// commit, so it shows only what is durable.
type Progress struct {
	Total, Done                     int
	Sent, Deferred, Failed, Unknown int
	Retries                         int
	Elapsed                         time.Duration
}

// Errors that end a run early. The ledger is written in every case; the
// next run resumes.
var (
	// ErrInterrupted: the context was cancelled (SIGINT, SIGTERM).
	ErrInterrupted = errors.New("interrupted")
	// ErrTooManyFailures: nearly all recent attempts failed, so the relay
	// or the credentials are broken; going on would burn the list.
	ErrTooManyFailures = errors.New("stopped early: nearly all recent attempts failed")
)

// Defaults of the Sender's tuning fields.
const (
	DefaultConcurrency   = 4
	DefaultMaxAttempts   = 4
	DefaultRetryBase     = 2 * time.Second
	DefaultRetryMax      = 2 * time.Minute
	DefaultDeferFor      = 15 * time.Minute
	DefaultBreakerWindow = 20
	DefaultBreakerRatio  = 0.9
)

// Sender delivers an edition to the active members of its list: N
// workers, each with its own connection, share a rate limit and hand
// their outcomes to one ledger writer.
type Sender struct {
	DB        *store.DB
	Transport Transport
	BaseURL   string
	Now       func() time.Time
	// Logf, when set, receives one line per recipient that failed, was
	// deferred or bounced, and the reason a run stops early.
	Logf func(format string, args ...any)
	// Progress, when set, is called after each ledger commit.
	Progress func(Progress)

	// Concurrency is the number of workers and so of SMTP connections
	// (default 4; the outbox is shared by the workers).
	Concurrency int
	// Rate caps messages per second across all workers; 0 is no cap.
	Rate float64
	// MaxPerHour caps messages per hour across all workers by spacing
	// them evenly (3600/N seconds apart); 0 is no cap.
	MaxPerHour int
	// RetryDeferred also takes up the edition's deferred deliveries
	// (digest send --retry-deferred); without it they are skipped.
	RetryDeferred bool
	// RetryFailed also takes up the edition's permanently failed
	// deliveries (5xx replies), for when the refusal was the relay's fault
	// (a misconfigured sender, a policy fixed since). Bounced subscribers
	// are not active members, so they stay out.
	RetryFailed bool
	// RetryUnknown also takes up the edition's deliveries of unknown
	// outcome (send --retry-unknown): the operator checked with the relay
	// that they were not delivered, or accepts a possible second copy.
	RetryUnknown bool
	// MaxAttempts is how often one recipient is tried within a run
	// before it is left deferred (default 4).
	MaxAttempts int
	// RetryBase is the wait before the first retry, doubled for each
	// further one with ±50% jitter, at most RetryMax (defaults 2s, 2m).
	RetryBase, RetryMax time.Duration
	// DeferFor sets next_attempt_at of a deferred delivery: the hint for
	// whoever runs --retry-deferred (default 15m).
	DeferFor time.Duration
	// BounceLimit is how many permanent refusals in a row, across
	// editions, mark a subscriber bounced; 0 (the zero value) or less
	// means never, as bounce_limit = 0 does in digest.toml. The CLI passes
	// its configuration, subscribers.DefaultBounceLimit unless changed.
	BounceLimit int
	// BreakerWindow and BreakerRatio stop the run when at least that
	// share of the last BreakerWindow attempts failed (defaults 20, 0.9).
	BreakerWindow int
	BreakerRatio  float64
	// DKIM, when set, signs every message.
	DKIM *DKIM
	// Feedback sets up what comes back after the send: VERP envelope
	// senders, mailto unsubscribes and aggregate click links.
	Feedback Feedback
	// LedgerSync is how durable each ledger commit is: LedgerSyncFull
	// (the default) survives power loss, LedgerSyncNormal only a crash
	// of the process but costs no fsync per commit.
	LedgerSync string
	// Lease is the list's send lease when the caller already holds it
	// (digest send takes it before building the edition); when nil, Send
	// takes it, and fails with a *LeaseBusyError while another process
	// holds it unless WaitLease is set (then OnLeaseWait, when set, hears
	// once who it waits for). LeaseTTL is its length (default 30s).
	Lease       *lease.Held
	WaitLease   bool
	OnLeaseWait func(error)
	LeaseTTL    time.Duration
	// RelayRest is how long a relay of a Pool that failed as a whole is
	// left alone before it is tried again (default 60s), doubled while it
	// keeps failing, at most 15 minutes.
	RelayRest time.Duration
	// OnRelay, when set, hears a relay of a Pool being rested (up false)
	// and taking mail again (up true); /metrics shows it as a gauge.
	OnRelay func(relay string, up bool)
	// Variants, when set, prepares the edition's variants (see
	// digest.Editions.PrepareVariants): each reader gets the one their
	// preferences choose, and readers who get none are not sent to.
	// When nil every active member gets the edition as it is.
	Variants func(ctx context.Context, ed digest.Edition, list subscribers.List) (*digest.Variants, error)
}

// Ledger durability levels (see Sender.LedgerSync).
const (
	LedgerSyncFull   = "full"
	LedgerSyncNormal = "normal"
)

func (s *Sender) now() time.Time { return clock.Now(s.Now) }

func (s *Sender) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// settings are the Sender's fields with defaults applied.
type settings struct {
	workers, maxAttempts, bounceLimit, window int
	base, max, deferFor                       time.Duration
	ratio                                     float64
}

func (s *Sender) settings() settings {
	c := settings{
		workers: s.Concurrency, maxAttempts: s.MaxAttempts, bounceLimit: s.BounceLimit,
		window: s.BreakerWindow, base: s.RetryBase, max: s.RetryMax, deferFor: s.DeferFor, ratio: s.BreakerRatio,
	}
	if c.workers <= 0 {
		c.workers = DefaultConcurrency
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.window <= 0 {
		c.window = DefaultBreakerWindow
	}
	if c.base <= 0 {
		c.base = DefaultRetryBase
	}
	if c.max <= 0 {
		c.max = DefaultRetryMax
	}
	if c.deferFor <= 0 {
		c.deferFor = DefaultDeferFor
	}
	if c.ratio <= 0 || c.ratio > 1 {
		c.ratio = DefaultBreakerRatio
	}
	return c
}

// pageSize is how many members are read, queued and handed out at once;
// with the channels below it bounds the recipients held in memory.
const pageSize = 500

// maxRetrying bounds the recipients waiting for a retry: while that many
// wait, no new ones are taken, so memory stays flat under a 4xx storm.
const maxRetrying = 2000

// job is one recipient going through a run.
type job struct {
	p        pending
	attempts int // attempts in this run
	due      time.Time
	index    int
	// relay is the relay the dispatcher chose for the job's next attempt.
	relay *relayState
}

// result is a worker's report on a job to the dispatcher.
type result struct {
	job *job
	// attempted is false when the job was never tried (the run was
	// stopping); verdict is what the attempt tells the circuit breaker.
	attempted bool
	verdict   verdict
	retry     bool
	reply     string
	// fatal stops the run: the ledger failed, or the server refused the
	// session.
	fatal error
	// relay is the relay that made the attempt; down, in a pooled run,
	// is its failure as a whole: nothing was recorded, the dispatcher
	// rests the relay and hands the job to another one.
	relay *relayState
	down  *DeliveryError
	// stalled: in a pooled run, the relay gave no reply after the final
	// ".", so the outcome is unknown and the relay rests.
	stalled bool
}

// Send delivers the edition to every active member of the list who has
// not got it yet, and records each outcome in the ledger. A second run
// sends nothing to anyone already sent, nor to anyone whose outcome is
// unknown (unless RetryUnknown). It stops with ErrConnect when the
// first SMTP session cannot be opened, ErrTooManyFailures when nearly all
// recent attempts fail, and ErrInterrupted when ctx is cancelled; in
// every case in-flight messages finish and the ledger is written first,
// so the next run resumes.
func (s *Sender) Send(ctx context.Context, ed digest.Edition, list subscribers.List) (Summary, error) {
	start := time.Now()
	held, release, err := s.holdLease(ctx, ed, list)
	if err != nil {
		return Summary{}, err
	}
	defer release()
	s.applyJournal(held.Context())
	r := &run{s: s, cfg: s.settings(), ed: ed, list: list, start: start}
	sum, err := r.send(held.Context())
	if r.variants != nil {
		sum.Variants, sum.Composed = len(r.variants.All()), r.variants.Composed
	}
	sum.Duration = time.Since(start)
	return sum, err
}

// run is the state of one Send.
type run struct {
	s     *Sender
	cfg   settings
	ed    digest.Edition
	list  subscribers.List
	start time.Time

	domain string
	tmpl   *digest.Template
	bal    *balancer
	// wires are the run's editions made ready for the SMTP stream, by
	// template (the edition's and each variant's); nil when each message
	// is built through go-mail.
	wires    map[*digest.Template]*wire
	limiters []*rate.Limiter
	ledger   *ledgerWriter
	member   *subscribers.ActiveCheck // is the subscriber still an active member?

	// Counters, written by the ledger goroutine after commits.
	sent, deferred, failed, unknown, retries, bounced, total atomic.Int64
	// Skips, written by the producer.
	already, failedBefore, deferredBefore, unknownBefore atomic.Int64
	// left: members gone before their message was handed over.
	left atomic.Int64
	// held: members whose preferences skip the edition.
	held     atomic.Int64
	variants *digest.Variants
	// suppressed: members whose address is on the suppression list.
	suppressed atomic.Int64

	fb feedbackRun
}

func (r *run) summary() Summary {
	var relays []RelaySummary
	if r.bal != nil && (r.bal.pooled() || r.bal.relays[0].name != "") {
		relays = r.bal.summary()
	}
	return Summary{
		Relays: relays,
		Sent:   int(r.sent.Load()), Deferred: int(r.deferred.Load()), Failed: int(r.failed.Load()), Unknown: int(r.unknown.Load()),
		Already: int(r.already.Load()), FailedBefore: int(r.failedBefore.Load()), DeferredBefore: int(r.deferredBefore.Load()),
		UnknownBefore: int(r.unknownBefore.Load()),
		Retries:       int(r.retries.Load()), Bounced: int(r.bounced.Load()), Pending: int(r.total.Load()),
		Left: int(r.left.Load()), Held: int(r.held.Load()), Suppressed: int(r.suppressed.Load()),
	}
}

func (r *run) send(ctx context.Context) (Summary, error) {
	s := r.s
	from, err := netmail.ParseAddress(r.list.From)
	if err != nil {
		return Summary{}, fmt.Errorf("list %s has an invalid sender %q: fix it with digest lists update --from", r.list.Name, r.list.From)
	}
	r.domain = domainOf(from.Address)
	r.tmpl = r.ed.Template()
	if s.Variants != nil {
		if r.variants, err = s.Variants(ctx, r.ed, r.list); err != nil {
			return Summary{}, err
		}
	}
	if err := r.prepareFeedback(ctx); err != nil {
		return Summary{}, err
	}
	defer r.fb.close()
	if s.DKIM == nil {
		// Encoded once for the run, one wire per variant (after
		// prepareFeedback rewrote their links); DKIM signs each message
		// whole, so signed runs build each through go-mail.
		if err := r.prepareWires(); err != nil {
			return Summary{}, err
		}
	}
	relays, err := s.relays(r.cfg.workers)
	if err != nil {
		return Summary{}, err
	}
	r.cfg.workers = 0
	for _, rs := range relays {
		r.cfg.workers += len(rs.sessions)
	}
	defer func() {
		for _, rs := range relays {
			for _, ss := range rs.sessions {
				ss.close()
			}
		}
	}()
	r.bal = newBalancer(relays, s.RelayRest, s.OnRelay)
	// Preflight: a relay that cannot be reached or refuses the login
	// stops the run before anything is queued (in a pool: rests).
	if err := r.preflight(ctx); err != nil {
		return Summary{}, err
	}
	total, err := countPending(ctx, s.DB, r.ed.ID, r.list.ID, s.RetryDeferred, s.RetryFailed, s.RetryUnknown)
	if err != nil {
		return Summary{}, err
	}
	r.total.Store(int64(total))
	if r.member, err = subscribers.PrepareActiveCheck(ctx, s.DB); err != nil {
		return Summary{}, err
	}
	defer r.member.Close()
	if s.Rate > 0 {
		r.limiters = append(r.limiters, rate.NewLimiter(rate.Limit(s.Rate), 1))
	}
	if s.MaxPerHour > 0 {
		r.limiters = append(r.limiters, rate.NewLimiter(rate.Limit(float64(s.MaxPerHour)/3600), 1))
	}

	r.ledger, err = newLedgerWriter(ctx, s.DB, r.ed.ID, r.cfg.workers, r.cfg.bounceLimit, s.LedgerSync, func() int64 { return s.now().Unix() })
	if err != nil {
		return Summary{}, err
	}
	r.ledger.onCommit = r.committed
	go r.ledger.run()

	// runCtx ends rate-limit waits and dials when the run stops; the
	// messages on the wire are not cut.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := make(chan struct{})
	fresh := make(chan *job, pageSize)
	results := make(chan result, r.cfg.workers)

	var producerErr error
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		producerErr = r.produce(ctx, fresh, stop)
	}()
	var wg sync.WaitGroup
	for _, rs := range relays {
		for _, ss := range rs.sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.work(runCtx, rs, ss, results)
			}()
		}
	}
	runErr := r.dispatch(ctx, fresh, results, func() {
		close(stop)
		cancel()
	})
	wg.Wait()
	pwg.Wait()
	if err := r.ledger.close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil && producerErr != nil {
		runErr = producerErr
	}
	return r.summary(), runErr
}

// sessions gives each worker its way to send.
func (s *Sender) sessions(n int) ([]session, error) {
	out := make([]session, 0, n)
	switch t := s.Transport.(type) {
	case *SMTP:
		for range n {
			ss, err := t.newSession()
			if err != nil {
				return nil, err
			}
			out = append(out, ss)
		}
	case Outbox:
		for range n {
			out = append(out, outboxSession{t})
		}
	default:
		mu := &sync.Mutex{}
		for range n {
			out = append(out, sharedSession{mu: mu, t: t})
		}
	}
	return out, nil
}

// produce pages through the list, marks each page queued in one ledger
// transaction, and hands the recipients on. It stops when stop closes.
func (r *run) produce(ctx context.Context, out chan<- *job, stop <-chan struct{}) error {
	defer close(out)
	var after int64
	for {
		page, err := readPage(ctx, r.s.DB, r.ed.ID, r.list.ID, after, pageSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].sub.ID
		todo := page[:0]
		ids := make([]int64, 0, len(page))
		for _, p := range page {
			switch {
			case p.suppressed && p.status != StatusSent:
				r.suppressed.Add(1)
			case p.status == StatusSent:
				r.already.Add(1)
			case p.status == StatusFailed && !r.s.RetryFailed:
				r.failedBefore.Add(1)
			case p.status == StatusDeferred && !r.s.RetryDeferred:
				r.deferredBefore.Add(1)
			case p.status == StatusUnknown && !r.s.RetryUnknown:
				r.unknownBefore.Add(1)
			case r.variants != nil && r.variants.For(p.prefs) == nil:
				r.held.Add(1)
				r.total.Add(-1)
			default:
				todo = append(todo, p)
				ids = append(ids, p.sub.ID)
			}
		}
		if len(ids) > 0 {
			ack := make(chan error, 1)
			r.ledger.submit(ledgerOp{queue: ids, ack: ack})
			if err := <-ack; err != nil { // a queue op is committed at once
				return err
			}
		}
		for _, p := range todo {
			select {
			case out <- &job{p: p}:
			case <-stop:
				return nil
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// dispatch hands jobs to the workers, due retries first, collects their
// results, and decides when the run ends: when everything is done, when
// ctx is cancelled, when the breaker trips or a worker reports a fatal
// error. Then it calls halt, waits for the jobs in flight, and closes
// the relays' work channels. Each job goes to the relay the balancer
// picks for it.
func (r *run) dispatch(ctx context.Context, fresh <-chan *job, results <-chan result, halt func()) error {
	var retries retryHeap
	var next *job
	freshOpen := true
	inFlight := 0
	stopping := false
	var stopErr error
	br := newBreaker(r.cfg.window, r.cfg.ratio)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stopWith := func(err error) {
		if !stopping {
			stopping, stopErr = true, err
			halt()
		}
	}
	for {
		if inFlight == 0 && (stopping || (!freshOpen && next == nil && retries.Len() == 0)) {
			// Nothing is drained: halt closed stop, so a producer blocked on
			// a full fresh channel returns, and the recipients it had read
			// stay queued in the ledger for the next run.
			for _, rs := range r.bal.relays {
				close(rs.work)
			}
			return stopErr
		}
		var sendCh chan<- *job
		var cand *job
		var timerC <-chan time.Time
		var freshCh <-chan *job
		var doneCh <-chan struct{}
		if !stopping {
			now := time.Now()
			switch {
			case retries.Len() > 0 && !retries[0].due.After(now):
				cand = retries[0]
			case next != nil:
				cand = next
			}
			var wake time.Time
			if cand != nil {
				if cand.relay == nil || !r.bal.usable(cand.relay, now) {
					cand.relay = r.bal.pick(now)
				}
				if cand.relay != nil {
					sendCh = cand.relay.work
				} else {
					wake = r.bal.wake() // every relay rests
				}
			}
			if retries.Len() > 0 && retries[0].due.After(now) && (wake.IsZero() || retries[0].due.Before(wake)) {
				wake = retries[0].due
			}
			if !wake.IsZero() {
				timer.Reset(wake.Sub(now))
				timerC = timer.C
			}
			if freshOpen && next == nil && retries.Len() < maxRetrying {
				freshCh = fresh
			}
			doneCh = ctx.Done()
		}
		select {
		case sendCh <- cand:
			inFlight++
			if cand == next {
				next = nil
			} else {
				heap.Pop(&retries)
			}
		case j, ok := <-freshCh:
			if ok {
				next = j
			} else {
				freshOpen = false
			}
		case res := <-results:
			inFlight--
			if res.fatal != nil {
				stopWith(res.fatal)
				continue
			}
			if !res.attempted {
				continue
			}
			res.job.relay = nil
			br.record(res.verdict, res.reply)
			switch {
			case res.down != nil:
				r.relayFailed(res, &retries, stopping)
			case res.stalled:
				// No reply after the final ".": the message stays unknown
				// (never sent again elsewhere), and the relay rests.
				r.rest(res.relay, res.reply)
			case res.relay != nil && res.verdict == healthy:
				r.bal.worked(res.relay)
			}
			if res.retry && !stopping {
				heap.Push(&retries, res.job)
			}
			if br.open() && !stopping {
				r.s.logf("stopping: %s", br)
				stopWith(fmt.Errorf("%w (%s): check the SMTP relay and its credentials", ErrTooManyFailures, br))
			}
		case <-timerC:
		case <-doneCh:
			r.s.logf("stopping: %d messages in flight finish, the ledger is written (interrupt again to quit at once)", inFlight)
			stopWith(fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx)))
		}
	}
}

// work is one worker: it builds each message, waits for the rate limit,
// and delivers it on its own session.
func (r *run) work(ctx context.Context, rs *relayState, ss session, results chan<- result) {
	// prev is the ledger ack of this worker's previous outcome; the
	// barrier waits for it before the next message can be accepted.
	var prev chan error
	barrier := func() error {
		if prev == nil {
			return nil
		}
		err := r.ledger.wait(prev)
		prev = nil
		return err
	}
	for j := range rs.work {
		res := r.attempt(ctx, rs, ss, j, barrier, &prev)
		res.relay = rs
		results <- res
	}
	barrier()
}

func (r *run) attempt(ctx context.Context, rs *relayState, ss session, j *job, barrier func() error, prev *chan error) result {
	s := r.s
	sub := j.p.sub
	m, err := r.message(ss, j.p)
	if err != nil {
		return result{job: j, fatal: err}
	}
	for _, l := range append(r.limiters, rs.limiters...) {
		if err := l.Wait(ctx); err != nil {
			return result{job: j} // stopping: not attempted, stays queued
		}
	}
	// Pages are read well before their messages go out (a rate limit can
	// make that hours): someone who unsubscribed or was erased since is
	// not sent to. One indexed lookup, just before the handover.
	active, err := r.member.Active(ctx, r.list.ID, sub.ID)
	if err != nil {
		if ctx.Err() != nil {
			return result{job: j} // stopping: stays queued
		}
		return result{job: j, fatal: fmt.Errorf("read recipients: %w", err)}
	}
	if !active {
		r.left.Add(1)
		r.total.Add(-1)
		r.ledger.submit(ledgerOp{sub: sub.ID, drop: true})
		return result{job: j}
	}
	if err := r.envelopeFrom(ctx, m, sub.ID); err != nil {
		if ctx.Err() != nil {
			return result{job: j} // stopping: stays queued
		}
		return result{job: j, fatal: err}
	}
	key := fmt.Sprintf("%s-%s-%08d", r.ed.Date, fileSafe(r.list.Name), sub.ID)
	sendErr := ss.deliver(ctx, key, m, barrier)
	if sendErr != nil && ctx.Err() != nil && errors.Is(sendErr, ErrConnect) {
		return result{job: j} // the run stopped while dialing
	}
	if r.bal.pooled() && sendErr != nil {
		if down, ok := relayDown(sendErr); ok {
			// The relay failed, not the message: nothing is recorded, the
			// dispatcher rests the relay and hands the job on.
			return result{job: j, attempted: true, verdict: relayFault, reply: down.Reply, down: down}
		}
	}
	op := ledgerOp{sub: sub.ID, msgID: m.id(), email: sub.Email, relay: rs.name}
	res := result{job: j, attempted: true}
	var de *DeliveryError
	switch {
	case sendErr == nil:
		op.status, op.clearBnc = StatusSent, j.p.bounces > 0
	case errors.Is(sendErr, ErrSessionRefused):
		return result{job: j, fatal: sendErr}
	case errors.As(sendErr, &de) && de.needsAuth():
		// The relay wants a login (or TLS) before any mail: every
		// recipient would get the same, so none is marked; the rows
		// stay queued for the run after the URL is fixed.
		return result{job: j, fatal: s.authRequired(de)}
	case errors.As(sendErr, &de):
		r.failure(j, de, &op, &res)
		res.stalled = de.Unknown && r.bal.pooled()
	default:
		// The barrier failed: the ledger cannot be written.
		return result{job: j, fatal: sendErr}
	}
	ack := make(chan error, 1)
	op.ack = ack
	r.ledger.submit(op)
	*prev = ack
	return res
}

// prepareWires makes a wire of the edition and of each of its variants.
func (r *run) prepareWires() error {
	r.wires = map[*digest.Template]*wire{}
	add := func(ed digest.Edition, tmpl *digest.Template) error {
		if r.wires[tmpl] != nil {
			return nil
		}
		w, err := newWire(ed, r.list, r.s.BaseURL, tmpl, r.s.Feedback.BounceAddress)
		r.wires[tmpl] = w
		return err
	}
	if err := add(r.ed, r.tmpl); err != nil {
		return err
	}
	if r.variants != nil {
		for _, v := range r.variants.All() {
			if err := add(v.Edition, v.Template); err != nil {
				return err
			}
		}
	}
	return nil
}

// message builds the recipient's message of the variant their
// preferences choose, for the session: from the run's wire for an SMTP
// session, through go-mail otherwise.
func (r *run) message(ss session, p pending) (outgoing, error) {
	sub := p.sub
	ed, tmpl := r.ed, r.tmpl
	if r.variants != nil {
		if v := r.variants.For(p.prefs); v != nil {
			ed, tmpl = v.Edition, v.Template
		}
	}
	if _, ok := ss.(*smtpSession); ok && r.wires != nil {
		return r.wires[tmpl].message(sub, r.s.now()), nil
	}
	m, err := BuildMessage(ed, Envelope{List: r.list, Sub: sub, BaseURL: r.s.BaseURL, Now: r.s.now(), Template: tmpl, BounceAddress: r.s.Feedback.BounceAddress})
	if err != nil {
		return nil, err
	}
	if r.s.DKIM != nil {
		m.SetDKIM(r.s.DKIM.Signer(r.domain))
	}
	return goMailMsg{m}, nil
}

// failure fills in the outcome of an attempt the relay did not accept.
func (r *run) failure(j *job, de *DeliveryError, op *ledgerOp, res *result) {
	op.code, op.reply = de.Code, de.Reply
	res.reply, res.verdict = de.Reply, de.verdict()
	j.attempts++
	switch {
	case de.Unknown:
		// Never retried by itself, nor through another relay: the
		// relay may have taken it.
		op.status = StatusUnknown
	case !de.Temporary:
		op.status, op.bounce = StatusFailed, de.RecipientRefused()
	case j.attempts < r.cfg.maxAttempts:
		j.due = time.Now().Add(backoff(r.cfg.base, r.cfg.max, j.attempts))
		op.status, op.next = StatusQueued, r.s.now().Add(time.Until(j.due)).Unix()
		res.retry = true
	default:
		op.status, op.next = StatusDeferred, r.s.now().Add(r.cfg.deferFor).Unix()
	}
}

// relayFailed handles a pooled relay's failure as a whole: the relay
// rests, and the job goes at once to another relay when one works. When
// every relay rests it counts as an ordinary temporary failure of the
// job (retried with backoff, deferred after MaxAttempts), so a run whose
// relays are all down ends as a run through one dead relay does.
func (r *run) relayFailed(res result, retries *retryHeap, stopping bool) {
	now := time.Now()
	r.rest(res.relay, res.down.Reply)
	j := res.job
	if r.bal.available(now) {
		res.relay.rerouted++
		if !stopping {
			j.due = now
			heap.Push(retries, j)
		}
		return
	}
	op := ledgerOp{sub: j.p.sub.ID, email: j.p.sub.Email, relay: res.relay.name}
	var out result
	r.failure(j, res.down, &op, &out)
	r.ledger.submit(op)
	if out.retry && !stopping {
		heap.Push(retries, j)
	}
}

// rest takes a pooled relay out of the run for a while and says so once
// per outage.
func (r *run) rest(rs *relayState, reply string) {
	if d, fresh := r.bal.restRelay(rs, time.Now()); fresh {
		r.s.logf("relay %s rests for %s: %s", rs.name, d.Round(time.Millisecond), reply)
	}
}

// committed updates the counters and logs after a ledger commit.
func (r *run) committed(batch, bounced []ledgerOp) {
	for _, op := range batch {
		if op.queue != nil {
			continue
		}
		rs := r.bal.byName[op.relay]
		if rs == nil {
			rs = &relayState{} // the outbox: counted nowhere
		}
		switch op.status {
		case StatusSent:
			r.sent.Add(1)
			rs.sent.Add(1)
		case StatusQueued:
			r.retries.Add(1)
		case StatusDeferred:
			r.deferred.Add(1)
			rs.deferred.Add(1)
			r.s.logf("deferred %s: %s", op.email, op.reply)
		case StatusFailed:
			r.failed.Add(1)
			rs.failed.Add(1)
			r.s.logf("failed %s: %s", op.email, op.reply)
		case StatusUnknown:
			r.unknown.Add(1)
			rs.unknown.Add(1)
			r.s.logf("unknown %s: %s", op.email, op.reply)
		}
	}
	for _, op := range bounced {
		r.bounced.Add(1)
		r.s.logf("bounced %s: %d permanent failures in a row; the subscriber will be skipped", op.email, r.cfg.bounceLimit)
	}
	if r.s.Progress != nil {
		sum := r.summary()
		r.s.Progress(Progress{
			Total: sum.Pending, Done: sum.Sent + sum.Deferred + sum.Failed + sum.Unknown,
			Sent: sum.Sent, Deferred: sum.Deferred, Failed: sum.Failed, Unknown: sum.Unknown, Retries: sum.Retries,
			Elapsed: time.Since(r.start),
		})
	}
}

// backoff is base·2^(n-1), at most max, with ±50% jitter so that workers
// hit by the same outage do not retry in lockstep.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d)
}

// retryHeap orders jobs waiting for a retry by due time.
type retryHeap []*job

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *retryHeap) Push(x any)        { j := x.(*job); j.index = len(*h); *h = append(*h, j) }
func (h *retryHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

var unsafeFile = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string {
	return strings.Trim(unsafeFile.ReplaceAllString(s, "-"), "-.")
}
