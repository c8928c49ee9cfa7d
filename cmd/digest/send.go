package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) sendCommand() *cobra.Command {
	var listName, date string
	var force, retryDeferred, retryFailed, allowInsecure bool
	var testTo string
	cmd := &cobra.Command{
		Use:   "send [--list L] [--date YYYY-MM-DD] [--smtp URL] [--force] [--concurrency N] [--rate R] [--max-per-hour N] [--retry-deferred] [--retry-failed]",
		Short: "Build the day's edition if needed and deliver it to the list",
		Long: `Build the list's edition for the date (default: today in the list's time zone)
unless it is already stored, then send one message per active subscriber who
has not received it yet. Running send again for the same edition sends nothing
to anyone already sent, and resumes after an interruption (Ctrl-C, SIGTERM,
kill -9, power loss).

Messages go out over --concurrency SMTP connections (default 4), at most
--rate per second and --max-per-hour per hour when set. Temporary failures
(4xx replies, network errors) are retried with backoff; recipients still
failing are left deferred until send --retry-deferred. A 5xx reply fails the
recipient; three refusals of an address in a row mark the subscriber bounced.

With no SMTP URL (--smtp, DIGEST_SMTP_URL or smtp_url in digest.toml) the
messages are written as .eml files to the outbox folder (--outbox, default
./outbox).

When no section has a new story, no edition is built, the command says so and
exits 0; --force builds the edition anyway.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("test") {
				return a.sendTest(testTo, listName, date)
			}
			// Every configuration check runs before an edition is built.
			transport, _, err := a.preflight(listName, false, allowInsecure)
			if err != nil {
				return err
			}
			defer transport.Close()
			list, ed, ok, err := a.edition(listName, date, force)
			if err != nil || !ok {
				return err
			}
			if ob, ok := transport.(delivery.Outbox); ok {
				a.printf("no SMTP configured: writing .eml files to %s (set --smtp or DIGEST_SMTP_URL to send mail)\n", ob.Dir)
			} else {
				a.printf("delivering to %s over %d connections\n", transport, a.cfg.Concurrency)
			}
			sum, err := a.deliverWith(transport, ed, list, sendOptions{retryDeferred: retryDeferred, retryFailed: retryFailed})
			a.printSummary(sum)
			if err != nil {
				return fmt.Errorf("%w; the edition and the unsent deliveries are kept: run send again to resume", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listName, "list", subscribers.DefaultList, "list to send")
	f.StringVar(&date, "date", "", "edition date, YYYY-MM-DD (default today in the list's time zone)")
	f.String("smtp", "", "SMTP URL, e.g. smtp://user:pass@host:587 (env DIGEST_SMTP_URL)")
	f.String("outbox", "", "folder for .eml files when no SMTP URL is set (default ./outbox)")
	f.BoolVar(&force, "force", false, "build an edition even when there is nothing new")
	f.StringVar(&testTo, "test", "", "send a [TEST] copy to these addresses only (comma-separated); records nothing")
	f.Int("concurrency", 4, "SMTP connections used at once (env DIGEST_CONCURRENCY)")
	f.Float64("rate", 0, "at most this many messages per second, 0 for no limit (env DIGEST_RATE)")
	f.Int("max-per-hour", 0, "at most this many messages per hour, 0 for no limit (env DIGEST_MAX_PER_HOUR)")
	f.BoolVar(&retryDeferred, "retry-deferred", false, "also retry the edition's deferred deliveries")
	f.BoolVar(&retryFailed, "retry-failed", false, "also retry the edition's failed deliveries (after fixing a relay-side refusal)")
	f.BoolVar(&allowInsecure, "allow-insecure-links", false, "send through a real relay with an http or loopback base URL (a local relay such as Mailpit)")
	return cmd
}

// transport picks SMTP when configured and the outbox otherwise.
func (a *App) transport() (delivery.Transport, error) {
	if a.cfg.SMTPURL == "" {
		return delivery.Outbox{Dir: a.cfg.Outbox}, nil
	}
	cfg, err := delivery.ParseSMTPURL(a.cfg.SMTPURL)
	if err != nil {
		return nil, usageError{err}
	}
	return delivery.NewSMTP(cfg)
}

// edition loads or builds the edition; ok is false when there was
// nothing new (already reported).
func (a *App) edition(listName, date string, force bool) (subscribers.List, digest.Edition, bool, error) {
	subs, err := a.subscribers()
	if err != nil {
		return subscribers.List{}, digest.Edition{}, false, err
	}
	list, err := subs.GetList(a.ctx, listName)
	if err != nil {
		return list, digest.Edition{}, false, err
	}
	eds, err := a.editions()
	if err != nil {
		return list, digest.Edition{}, false, err
	}
	ed, sel, err := eds.BuildReport(a.ctx, a.composer(), list, date, force)
	if errors.Is(err, digest.ErrNothingNew) {
		a.printf("no edition built: %v\n", err)
		if sel != nil {
			a.reportLeftOut(*sel)
		}
		return list, ed, false, nil
	}
	if err != nil {
		return list, ed, false, err
	}
	verb := "using stored"
	if sel != nil {
		verb = "built"
	}
	a.printf("%s edition %d of %s for %s: %d stories\n  subject: %s\n", verb, ed.ID, list.Name, ed.Date, len(ed.StoryIDs), ed.Subject)
	if sel != nil {
		a.reportLeftOut(*sel)
	}
	return list, ed, true, nil
}

// sendOptions are the send command's choices that are no configuration.
type sendOptions struct {
	retryDeferred bool
	retryFailed   bool
}

// deliver runs the delivery engine with the configured settings.
func (a *App) deliver(t delivery.Transport, ed digest.Edition, list subscribers.List) (delivery.Summary, error) {
	return a.deliverWith(t, ed, list, sendOptions{})
}

// deliverWith runs the delivery engine, showing progress on standard
// error.
func (a *App) deliverWith(t delivery.Transport, ed digest.Edition, list subscribers.List, o sendOptions) (delivery.Summary, error) {
	p := newProgress(a.stderr)
	defer p.finish()
	s, err := a.sender(t, o, p.logf)
	if err != nil {
		return delivery.Summary{}, err
	}
	s.Progress = p.update
	return s.Send(a.ctx, ed, list)
}

// sender is the delivery engine with the configured settings, the same
// for digest send and digest serve.
func (a *App) sender(t delivery.Transport, o sendOptions, logf func(format string, args ...any)) (*delivery.Sender, error) {
	subs, err := a.subscribers()
	if err != nil {
		return nil, err
	}
	dkim, err := a.loadDKIM()
	if err != nil {
		return nil, err
	}
	bounceLimit := a.cfg.BounceLimit
	if bounceLimit == 0 {
		bounceLimit = -1 // 0 in the configuration: never mark bounced
	}
	return &delivery.Sender{
		DB: a.db, Subs: subs, Transport: t, BaseURL: a.cfg.BaseURL, Now: a.now, Logf: logf,
		Concurrency: a.cfg.Concurrency, Rate: a.cfg.Rate, MaxPerHour: a.cfg.MaxPerHour,
		RetryDeferred: o.retryDeferred, RetryFailed: o.retryFailed, BounceLimit: bounceLimit, DKIM: dkim, LedgerSync: a.cfg.LedgerSync,
	}, nil
}

// printSummary prints the line scripts and tests read, then what else
// the run did, if anything.
func (a *App) printSummary(s delivery.Summary) {
	a.printf("sent %d, already sent %d, deferred %d, failed %d in %s (%.0f msg/s)\n",
		s.Sent, s.Already, s.Deferred, s.Failed, s.Duration.Round(time.Millisecond), s.Rate())
	var more []string
	if s.Retries > 0 {
		more = append(more, fmt.Sprintf("%d temporary failures retried", s.Retries))
	}
	if s.Bounced > 0 {
		more = append(more, fmt.Sprintf("%d subscribers marked bounced", s.Bounced))
	}
	if s.FailedBefore > 0 {
		more = append(more, fmt.Sprintf("%d failed in an earlier run", s.FailedBefore))
	}
	if s.DeferredBefore > 0 {
		more = append(more, fmt.Sprintf("%d deferred in an earlier run, left for send --retry-deferred", s.DeferredBefore))
	}
	if len(more) > 0 {
		a.printf("  %s\n", strings.Join(more, "; "))
	}
	if s.Deferred > 0 {
		a.printf("  %d deliveries are deferred: run digest send --retry-deferred later (digest deliveries --status deferred lists them)\n", s.Deferred)
	}
}
