package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// logBuf collects log output from several goroutines.
type logBuf = storetest.Buffer

// env is one database file with an SMTP server and a clock.
type env struct {
	t    *testing.T
	ctx  context.Context
	path string
	db   *store.DB
	now  func() time.Time
	smtp *smtptest.Server
	logs *logBuf
}

// newEnv opens a database; a zero start means the real clock.
func newEnv(t *testing.T, start time.Time, configure func(*smtptest.Server)) (*env, *clock.Manual) {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "digest.db"), logs: &logBuf{}, now: time.Now}
	var c *clock.Manual
	if !start.IsZero() {
		c = clock.NewManual(start)
		e.now = c.Now
	}
	e.db = e.open()
	e.smtp = smtptest.Start(t, configure)
	return e, c
}

// open gives a process of its own a handle on the same file.
func (e *env) open() *store.DB {
	e.t.Helper()
	db, err := store.Open(e.ctx, e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.ExecContext(e.ctx, q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// setSchedule sets a list's schedule and zone, as digest lists update
// would; a new name creates the list.
func (e *env) setSchedule(list, schedule, zone string) int64 {
	e.t.Helper()
	e.exec(`INSERT INTO lists (name, title, from_addr, schedule, timezone, created_at, updated_at)
		VALUES (?, ?, 'Digest <digest@example.com>', ?, ?, 0, 0)
		ON CONFLICT (name) DO UPDATE SET schedule = excluded.schedule, timezone = excluded.timezone`,
		list, "The "+list+" digest", schedule, zone)
	var id int64
	if err := e.db.QueryRowContext(e.ctx, `SELECT id FROM lists WHERE name = ?`, list).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// subscribe adds n readers to the list.
func (e *env) subscribe(list string, n int) {
	e.t.Helper()
	subs := &subscribers.Store{DB: e.db, Now: e.now}
	for i := range n {
		if _, err := subs.Add(e.ctx, fmt.Sprintf("reader%03d@example.com", i), "", list); err != nil {
			e.t.Fatal(err)
		}
	}
}

// story stores a story published ago before the clock's time.
func (e *env) story(title string, ago time.Duration) {
	e.t.Helper()
	st := stories.Story{Section: "World", Title: title, URL: "https://news.example.com/" + strings.ReplaceAll(strings.ToLower(title), " ", "-"),
		PublishedAt: e.now().Add(-ago).Truncate(time.Second)}
	if err := (&stories.Store{DB: e.db, Now: e.now}).Add(e.ctx, &st); err != nil {
		e.t.Fatal(err)
	}
}

// scheduler builds a Scheduler on its own database handle, as a separate
// serve process would have, delivering to the env's SMTP server.
func (e *env) scheduler(configure func(*Scheduler)) *Scheduler {
	db := e.open()
	subs := &subscribers.Store{DB: db, Now: e.now}
	s := &Scheduler{
		DB: db, Subs: subs, Editions: &digest.Editions{DB: db, Now: e.now},
		Composer: digest.Composer{BaseURL: "https://news.example.com"},
		Metrics:  metrics.New(),
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      e.now, Grace: DefaultGrace, Reload: time.Hour, LeaseTTL: 3 * time.Second,
	}
	s.Deliver = func(ctx context.Context, ed digest.Edition, list subscribers.List) (delivery.Summary, error) {
		cfg, err := delivery.ParseSMTPURL(e.smtp.URL())
		if err != nil {
			return delivery.Summary{}, err
		}
		t, err := delivery.NewSMTP(cfg)
		if err != nil {
			return delivery.Summary{}, err
		}
		defer t.Close()
		return (&delivery.Sender{DB: db, Transport: t, BaseURL: "https://news.example.com", Now: e.now}).Send(ctx, ed, list)
	}
	if configure != nil {
		configure(s)
	}
	return s
}

// start runs s until the returned stop is called; stop waits for Run to
// return and fails the test if it returned an error.
func (e *env) start(s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds; it fails the test after a generous
// bound, so a broken scheduler cannot hang the suite.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	storetest.WaitUntil(e.t, what, cond, func() string { return "logs:\n" + e.logs.String() })
}

func (e *env) run(listID int64, date string) (Run, bool) {
	e.t.Helper()
	r, ok, err := runs{e.db}.get(e.ctx, listID, date)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, ok
}

// waitOutcome waits until the date's run has ended and returns it.
func (e *env) waitOutcome(listID int64, date string) Run {
	e.t.Helper()
	var r Run
	e.waitFor("the run of "+date+" to end", func() bool {
		var ok bool
		r, ok = e.run(listID, date)
		return ok && r.Outcome != OutcomeRunning
	})
	return r
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// assertOncePerRecipient checks on the server side that each of the want
// recipients got exactly one message.
func (e *env) assertOncePerRecipient(want int) {
	e.t.Helper()
	per := e.smtp.PerRecipient()
	if len(per) != want {
		e.t.Errorf("%d recipients got mail, want %d", len(per), want)
	}
	for to, n := range per {
		if n != 1 {
			e.t.Errorf("%s got %d messages, want 1", to, n)
		}
	}
}

func dailyID(e *env) int64 {
	return e.setSchedule(subscribers.DefaultList, "0 6 * * *", "UTC")
}
