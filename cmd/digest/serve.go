package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // list time zones work on hosts without a zoneinfo database

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/config"
	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/feeds"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/scheduler"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/tokens"
	"github.com/newsroom/digest/web"
)

// serveOptions are serve's flags that map to no configuration field.
type serveOptions struct {
	trustForwardedFor bool
	allowInsecure     bool
}

func (a *App) serveCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [--http 127.0.0.1:8080] [--log-format text|json] [--grace 3h] [--smtp URL]",
		Short: "Run the daemon: scheduled sends and the subscriber-facing web endpoints",
		Long: `Send each list's digest on its schedule (a cron expression in the list's time
zone) and answer subscribers' clicks: one-click unsubscribe at /u/TOKEN, the web
archive at /archive/LIST, and /healthz and /metrics for the operator.
Every feed (digest feeds add) is polled on its own schedule, and a CMS may
push stories to POST /api/stories with a token from digest tokens create.

One edition goes out per list per local date. Several serve processes may run on
one database: a lease in the database lets exactly one of them send. A fire
missed while no process ran is sent on start if it is at most --grace old, and
skipped with a log line otherwise. Lists are reread every --reload, so a changed
schedule applies without a restart; a list with an invalid schedule or zone is
reported and left out while the others run.

SIGTERM or SIGINT stops new fires, lets a running delivery finish the messages
in flight (the rest resume at the next start), and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runServe(o) },
	}
	f := cmd.Flags()
	// The settings flags are strings with no pflag default: config
	// holds the defaults and parses the values (see flagSettings).
	f.String("http", "", "listen address of the web endpoints (default "+config.DefaultHTTP+"; env DIGEST_HTTP)")
	f.String("log-format", "", "log format: text or json (default text; env DIGEST_LOG_FORMAT)")
	f.String("log-level", "", "least severe log level shown: debug, info, warn or error (default info; env DIGEST_LOG_LEVEL)")
	f.String("grace", "", "how late a missed fire is still sent, e.g. 3h; 0 never catches up (default "+shortDuration(scheduler.DefaultGrace)+"; env DIGEST_CATCH_UP_GRACE)")
	f.String("reload", "", "how often lists are reread and missed fires checked, at least 1s (default "+shortDuration(scheduler.DefaultReload)+"; env DIGEST_RELOAD)")
	f.String("lease-ttl", "", "length of the sending lease, at least 3s; a standby takes over this long after the sender dies (default "+shortDuration(scheduler.DefaultLeaseTTL)+"; env DIGEST_LEASE_TTL)")
	f.StringArray("smtp", nil, "SMTP URL, e.g. smtp://user:pass@host:587 (env DIGEST_SMTP_URL); give it again for more relays of equal weight")
	f.String("outbox", "", "folder for .eml files when no SMTP URL is set (default ./outbox)")
	f.BoolVar(&o.trustForwardedFor, "trust-forwarded-for", false, "rate-limit clients by the last X-Forwarded-For address (only behind a reverse proxy that sets it)")
	f.BoolVar(&o.allowInsecure, "allow-insecure-links", false, "send through a real relay with an http or loopback base URL (a local relay such as Mailpit)")
	return cmd
}

// shortDuration writes 3h0m0s as 3h and 1m0s as 1m, for help texts.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// serveLogger builds the slog logger serve writes to standard error, in
// the format and level config.Validate has checked.
func (a *App) serveLogger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: a.cfg.Level()}
	if strings.EqualFold(a.cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

func (a *App) runServe(o serveOptions) error {
	// The settings (listen address, log format and level, grace, reload,
	// lease, SMTP URL) were checked by config.Validate before this ran.
	logger := a.serveLogger()
	transport, err := a.transport() // to say where mail goes; its URL is already checked
	if err != nil {
		return err
	}
	transport.Close()
	if _, err := a.loadDKIM(); err != nil { // and so is a DKIM key that cannot sign
		return err
	}
	if _, outbox := transport.(delivery.Outbox); !outbox {
		if err := a.serveReady(o.allowInsecure, transport.String()); err != nil {
			return err
		}
	}
	ln, err := web.Listen(a.cfg.HTTP)
	if err != nil {
		return err
	}
	defer ln.Close()
	db, err := a.store()
	if err != nil {
		return err
	}
	subs, err := a.subscribers()
	if err != nil {
		return err
	}
	eds, err := a.editions()
	if err != nil {
		return err
	}
	m := metrics.New()
	sched := &scheduler.Scheduler{
		DB: db, Subs: subs, Editions: eds, Composer: a.composer(),
		Deliver: a.serveDeliver(logger, m),
		Metrics: m, Logger: logger, Now: a.now,
		Grace: a.cfg.CatchUpGrace, Reload: a.cfg.Reload, LeaseTTL: a.cfg.LeaseTTL,
	}
	site := &web.Server{
		Subs: subs, Editions: eds, Metrics: m, Logger: logger.With("component", "http"),
		Sending: sched.Leader, TrustForwardedFor: o.trustForwardedFor, Brand: a.composer().Brand,
		Journal: &subscribers.Journal{Path: subscribers.JournalPath(db.Path)},
		API:     &web.API{Stories: &stories.Store{DB: db, Now: a.now}, Tokens: &tokens.Store{DB: db, Now: a.now}},
		Deliveries: func(ctx context.Context, id int64) ([]subscribers.DeliveryRecord, error) {
			return delivery.SubscriberDeliveries(ctx, db, id, 10000)
		},
	}
	if err := a.wireSignup(site); err != nil {
		return err
	}
	// Every feed is polled on its own schedule; feeds added meanwhile are
	// picked up within --reload.
	poller := &feeds.Poller{Feeds: &feeds.Store{DB: db, Now: a.now}, Fetcher: a.feedFetcher(),
		Logger: logger.With("component", "feeds"), Check: a.cfg.Reload}
	fb, err := a.feedback()
	if err != nil {
		return err
	}
	site.ClickKey = fb.ClickKey
	proc := &bounces.Processor{DB: db, Key: fb.VERPKey, Now: a.now, Logf: func(format string, args ...any) {
		logger.Info(fmt.Sprintf(format, args...), "component", "bounces")
	}}
	if site.Webhooks, err = a.webhooks(proc, logger); err != nil {
		return err
	}
	m.ReadTotals(a.readTotals())
	srv := web.HTTPServer(site.Handler(), logger)

	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	logger.Info("serving HTTP", "addr", "http://"+ln.Addr().String(), "base_url", a.cfg.BaseURL, "db", a.cfg.DB)
	if _, ok := transport.(delivery.Outbox); ok {
		logger.Warn("no SMTP URL configured: scheduled digests are written as .eml files; set --smtp or DIGEST_SMTP_URL to send mail", "outbox", a.cfg.Outbox)
	} else {
		logger.Info("delivering through " + transport.String())
	}
	if !strings.HasPrefix(a.cfg.BaseURL, "https://") {
		logger.Warn("the base URL is not https: messages carry no List-Unsubscribe-Post header, so mailbox providers offer no one-click unsubscribe; set --base-url or DIGEST_BASE_URL to the public https address", "base_url", a.cfg.BaseURL)
	}
	go site.KeepJournal(ctx, 2*time.Second)
	if a.cfg.BounceIMAPURL != "" {
		mb, err := bounces.ParseMailbox(a.cfg.BounceIMAPURL)
		if err != nil {
			return usageError{err}
		}
		logger.Info("reading the bounce mailbox", "mailbox", mb.String(), "every", a.cfg.BounceFetchEvery.String())
		go fetchBounces(ctx, proc, mb, a.cfg.BounceFetchEvery, logger)
	}
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(ctx) }()
	pollDone := make(chan error, 1)
	go func() { pollDone <- poller.Run(ctx) }()
	defer func() { <-pollDone }()

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("signal received: shutting down")
	case err := <-httpErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-schedDone:
		schedDone <- err
		if err != nil {
			runErr = fmt.Errorf("scheduler: %w", err)
		}
	}
	cancel()
	shutCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	site.WaitConfirmations()
	if err := <-schedDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("scheduler: %w", err)
	}
	logger.Info("stopped")
	return runErr
}

// serveDeliver sends an edition through a transport opened for the run
// (an SMTP session, or the outbox) and closed after it.
func (a *App) serveDeliver(logger *slog.Logger, m *metrics.Metrics) scheduler.DeliverFunc {
	return func(ctx context.Context, ed digest.Edition, list subscribers.List) (delivery.Summary, error) {
		t, err := a.transport()
		if err != nil {
			return delivery.Summary{}, err
		}
		defer t.Close()
		if _, outbox := t.(delivery.Outbox); !outbox {
			// A list changed (or filled) since start is checked again.
			if p := list.SenderProblems(); len(p) > 0 {
				return delivery.Summary{}, fmt.Errorf("%w to send list %s through a real relay: %s", errRefused, list.Name, strings.Join(p, "; "))
			}
		}
		// A run retries the edition's deferred deliveries: a resumed run
		// after "deferred" must reach them within the grace period.
		s, err := a.sender(t, sendOptions{retryDeferred: true}, func(format string, args ...any) {
			logger.Warn(fmt.Sprintf(format, args...), "list", list.Name)
		})
		if err != nil {
			return delivery.Summary{}, err
		}
		// A digest send of the list holds its send lease: wait for it to
		// end, then send to whoever it left out.
		s.WaitLease = true
		s.OnLeaseWait = func(busy error) {
			logger.Info("waiting for another process to finish sending the list", "list", list.Name, "holder", busy.Error())
		}
		s.OnRelay = func(relay string, up bool) {
			m.SetRelayUp(relay, up)
			if up {
				logger.Info("relay takes mail again", "relay", relay)
			}
		}
		sum, err := s.Send(ctx, ed, list)
		for _, r := range sum.Relays {
			m.RelayDelivered(r.Name, r.Sent, r.Deferred, r.Failed, r.Unknown)
		}
		return sum, err
	}
}

// serveReady refuses to start a daemon that would mail placeholders or
// dead links through a real relay: the base URL must be public https
// (unless allowInsecure), and every list with active subscribers needs a
// real sender and postal address.
func (a *App) serveReady(allowInsecure bool, relay string) error {
	var problems []string
	if !allowInsecure {
		problems = append(problems, baseURLProblems(a.cfg.BaseURL)...)
	}
	subs, err := a.subscribers()
	if err != nil {
		return err
	}
	err = subs.Lists(a.ctx, func(lc subscribers.ListCounts) error {
		if lc.Subscribers.Active > 0 {
			problems = append(problems, lc.SenderProblems()...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.refuse(problems, "serve through "+relay)
}
