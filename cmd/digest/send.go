package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/lease"
	"github.com/newsroom/digest/report"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) sendCommand() *cobra.Command {
	var listName, date string
	var force, retryDeferred, retryFailed, retryUnknown, wait, asJSON, allowInsecure bool
	var testTo string
	cmd := &cobra.Command{
		Use:   "send [--list L] [--date YYYY-MM-DD] [--smtp URL] [--force] [--concurrency N] [--rate R] [--max-per-hour N] [--retry-deferred] [--retry-failed] [--retry-unknown] [--wait] [--json]",
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
When the whole message was sent but the relay never answered (a timeout or a
dropped connection after the final "."), the relay may have taken it: the
delivery is recorded unknown and never sent again unless send --retry-unknown
asks for it.

Exit status: 0 when every recipient has the edition; 3 when the run finished
but some recipients failed, were deferred or are unknown (the summary says
what to run next); 1 when an error stopped the run; 2 on a usage error.

--smtp given more than once, or [[relay]] tables in digest.toml, send through
several relays: spread by weight, a relay that fails as a whole rested for a
while and its recipients handed to the others, backups only while no primary
works; a message of unknown outcome is never sent again through another relay.

With no SMTP URL (--smtp, DIGEST_SMTP_URL or smtp_url in digest.toml) the
messages are written as .eml files to the outbox folder (--outbox, default
./outbox).

When no section has a new story, no edition is built, the command says so and
exits 0; --force builds the edition anyway.

One process sends a list at a time (digest send or a scheduled run of digest
serve). While another one does, send exits 1 naming it, or with --wait waits
until it ends and then sends to whoever it left out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDate(date, false); err != nil {
				return err
			}
			if cmd.Flags().Changed("test") {
				if asJSON {
					return usagef("--json does not go with --test")
				}
				a.readOnly = true // a test send records nothing
				return a.sendTest(testTo, listName, date)
			}
			out := a.stdout
			if asJSON {
				out = a.jsonOutput()
			}
			// Every configuration check runs before an edition is built.
			transport, _, err := a.preflight(listName, false, allowInsecure)
			if err != nil {
				return err
			}
			defer transport.Close()
			held, err := a.holdList(listName, date, wait)
			if err != nil {
				return err
			}
			defer held.Release()
			list, ed, ok, err := a.edition(listName, date, force)
			if err != nil {
				return err
			}
			if !ok {
				if asJSON {
					return writeJSON(out, sendJSON{List: list.Name, NothingNew: true})
				}
				return nil
			}
			if ob, ok := transport.(delivery.Outbox); ok {
				a.printf("no SMTP configured: writing .eml files to %s (set --smtp or DIGEST_SMTP_URL to send mail)\n", ob.Dir)
			} else {
				a.printf("delivering to %s over %s\n", transport, connections(transport, a.cfg.Concurrency))
			}
			sum, err := a.deliverWith(transport, ed, list, sendOptions{retryDeferred: retryDeferred, retryFailed: retryFailed, retryUnknown: retryUnknown, lease: held})
			// A run that failed before any outcome (the relay cannot be
			// reached) has no summary worth a line: the error says it.
			if err == nil || sum.Sent+sum.Deferred+sum.Failed+sum.Unknown > 0 {
				if asJSON {
					if jerr := writeJSON(out, newSendJSON(list, ed, sum)); jerr != nil && err == nil {
						err = jerr
					}
				} else {
					a.printSummary(sum)
				}
			}
			a.countManualSend(list.Name, sum)
			var busy *delivery.LeaseBusyError
			if errors.As(err, &busy) {
				return err
			}
			if err != nil {
				return fmt.Errorf("%w; the edition and the unsent deliveries are kept: run send again to resume", err)
			}
			if n := sum.Unreached(); n > 0 {
				return partialError{fmt.Errorf("%d of %d recipients do not have edition %d yet: see the summary above for what to run next", n, n+sum.Sent+sum.Already, ed.ID)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listName, "list", subscribers.DefaultList, "list to send")
	f.StringVar(&date, "date", "", "edition date, YYYY-MM-DD (default today in the list's time zone)")
	f.StringArray("smtp", nil, "SMTP URL, e.g. smtp://user:pass@host:587 (env DIGEST_SMTP_URL); give it again for more relays of equal weight")
	f.String("outbox", "", "folder for .eml files when no SMTP URL is set (default ./outbox)")
	f.BoolVar(&force, "force", false, "build an edition even when there is nothing new")
	f.StringVar(&testTo, "test", "", "send a [TEST] copy to these addresses only (comma-separated); records nothing")
	f.Int("concurrency", delivery.DefaultConcurrency, "SMTP connections used at once (env DIGEST_CONCURRENCY)")
	f.Float64("rate", 0, "at most this many messages per second, 0 for no limit (env DIGEST_RATE)")
	f.Int("max-per-hour", 0, "at most this many messages per hour, 0 for no limit (env DIGEST_MAX_PER_HOUR)")
	f.BoolVar(&retryDeferred, "retry-deferred", false, "also retry the edition's deferred deliveries")
	f.BoolVar(&retryFailed, "retry-failed", false, "also retry the edition's failed deliveries (after fixing a relay-side refusal)")
	f.BoolVar(&retryUnknown, "retry-unknown", false, "also send again the deliveries of unknown outcome (the relay may have taken them: check first)")
	f.BoolVar(&wait, "wait", false, "when another process is sending the list, wait for it to end instead of exiting 1")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON document (the other lines go to standard error)")
	f.BoolVar(&allowInsecure, "allow-insecure-links", false, "send through a real relay with an http or loopback base URL (a local relay such as Mailpit)")
	return cmd
}

// holdList takes the list's send lease before the edition is built, so
// that a second send neither builds nor sends while the first runs: it
// exits with one line naming the holder, or with wait waits for it.
//
// Until the edition is built the lease names the list and date (another
// send is told "the edition of daily for 2026-12-01 is being built and
// sent by ..."), or the stored edition when there is one already; the
// run renames it to the edition once built.
func (a *App) holdList(listName, date string, wait bool) (*lease.Held, error) {
	list, err := a.listOf(listName)
	if err != nil {
		return nil, err
	}
	eds, err := a.editions()
	if err != nil {
		return nil, err
	}
	day, _, err := eds.ParseDate(list, date)
	if err != nil {
		return nil, usageError{err}
	}
	ed, err := eds.Get(a.ctx, list, day)
	if errors.Is(err, digest.ErrNoEdition) {
		ed, err = digest.Edition{Date: day}, nil
	}
	if err != nil {
		return nil, err
	}
	return delivery.HoldList(a.ctx, a.db, list, delivery.LeaseNote(ed, list), 0, wait, func(busy error) {
		fmt.Fprintf(a.stderr, "waiting: %v\n", strings.Replace(busy.Error(), "; run send again after it ends", "", 1))
	})
}

// transport picks SMTP when configured and the outbox otherwise.
func (a *App) transport() (delivery.Transport, error) {
	if len(a.cfg.Relays) > 0 {
		relays, err := a.cfg.DeliveryRelays()
		if err != nil {
			return nil, usageError{err}
		}
		p, err := delivery.NewPool(relays)
		if err != nil {
			return nil, usageError{err}
		}
		return p, nil
	}
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
	list, err := a.listOf(listName)
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
	a.printf("%s edition %d of %s for %s: %s\n  subject: %s\n", verb, ed.ID, list.Name, ed.Date, plural(len(ed.StoryIDs), "story"), ed.Subject)
	if sel != nil {
		a.reportLeftOut(*sel)
	}
	return list, ed, true, nil
}

// sendOptions are the send command's choices that are no configuration.
type sendOptions struct {
	retryDeferred bool
	retryFailed   bool
	retryUnknown  bool
	// lease is the list's send lease when the caller holds it already.
	lease *lease.Held
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
// for digest send and digest serve. It opens the store itself rather than
// relying on an earlier call having done so.
func (a *App) sender(t delivery.Transport, o sendOptions, logf func(format string, args ...any)) (*delivery.Sender, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	dkim, err := a.loadDKIM()
	if err != nil {
		return nil, err
	}
	fb, err := a.feedback()
	if err != nil {
		return nil, err
	}
	return &delivery.Sender{
		Feedback: fb,
		DB:       db, Transport: t, BaseURL: a.cfg.BaseURL, Now: a.now, Logf: logf,
		Concurrency: a.cfg.Concurrency, Rate: a.cfg.Rate, MaxPerHour: a.cfg.MaxPerHour,
		RetryDeferred: o.retryDeferred, RetryFailed: o.retryFailed, RetryUnknown: o.retryUnknown, BounceLimit: a.cfg.BounceLimit, DKIM: dkim, LedgerSync: a.cfg.LedgerSync,
		Lease: o.lease, Variants: a.variants,
	}, nil
}

// sendJSON is send --json: what the run did, with the edition it sent.
type sendJSON struct {
	List           string  `json:"list"`
	Edition        int64   `json:"edition,omitempty"`
	Date           string  `json:"date,omitempty"`
	Subject        string  `json:"subject,omitempty"`
	NothingNew     bool    `json:"nothing_new"`
	Sent           int     `json:"sent"`
	AlreadySent    int     `json:"already_sent"`
	Deferred       int     `json:"deferred"`
	Failed         int     `json:"failed"`
	Unknown        int     `json:"unknown"`
	UnknownBefore  int     `json:"unknown_before"`
	Left           int     `json:"left"`
	FailedBefore   int     `json:"failed_before"`
	DeferredBefore int     `json:"deferred_before"`
	Retries        int     `json:"retries"`
	Bounced        int     `json:"bounced"`
	DurationMS     int64   `json:"duration_ms"`
	Rate           float64 `json:"rate"`
	// Relays counts per relay (omitted for the outbox).
	Relays []delivery.RelaySummary `json:"relays,omitempty"`
}

func newSendJSON(list subscribers.List, ed digest.Edition, s delivery.Summary) sendJSON {
	return sendJSON{
		List: list.Name, Edition: ed.ID, Date: ed.Date, Subject: ed.Subject,
		Sent: s.Sent, AlreadySent: s.Already, Deferred: s.Deferred, Failed: s.Failed,
		Unknown: s.Unknown, UnknownBefore: s.UnknownBefore, Left: s.Left,
		FailedBefore: s.FailedBefore, DeferredBefore: s.DeferredBefore, Retries: s.Retries, Bounced: s.Bounced,
		DurationMS: s.Duration.Milliseconds(), Rate: s.Rate(), Relays: s.Relays,
	}
}

// printSummary prints the line scripts and tests read, then what else
// the run did, if anything.
func (a *App) printSummary(s delivery.Summary) {
	a.printf("sent %d, already sent %d, deferred %d, failed %d, unknown %d in %s (%.0f msg/s)\n",
		s.Sent, s.Already, s.Deferred, s.Failed, s.Unknown, s.Duration.Round(time.Millisecond), s.Rate())
	var more []string
	if s.Retries > 0 {
		more = append(more, plural(s.Retries, "temporary failure")+" retried")
	}
	if s.Bounced > 0 {
		more = append(more, plural(s.Bounced, "subscriber")+" marked bounced")
	}
	if s.Variants > 1 || s.Held > 0 {
		more = append(more, fmt.Sprintf("%d variants by reader preferences (%d composed now), %d readers held back (paused, weekly, or nothing in their sections)", s.Variants, s.Composed, s.Held))
	}
	if s.Suppressed > 0 {
		more = append(more, fmt.Sprintf("%d suppressed addresses skipped", s.Suppressed))
	}
	if s.Left > 0 {
		more = append(more, plural(s.Left, "member")+" left the list during the run and "+agree(s.Left, "was", "were")+" not sent to")
	}
	if s.FailedBefore > 0 {
		more = append(more, fmt.Sprintf("%d failed in an earlier run", s.FailedBefore))
	}
	if s.DeferredBefore > 0 {
		more = append(more, fmt.Sprintf("%d deferred in an earlier run, left for send --retry-deferred", s.DeferredBefore))
	}
	if s.UnknownBefore > 0 {
		more = append(more, fmt.Sprintf("%d of unknown outcome in an earlier run, left for send --retry-unknown", s.UnknownBefore))
	}
	if len(more) > 0 {
		a.printf("  %s\n", strings.Join(more, "; "))
	}
	if line := relayLine(s.Relays); line != "" {
		a.printf("  %s\n", line)
	}
	if s.Deferred > 0 {
		a.printf("  %s %s deferred: run digest send --retry-deferred later (digest deliveries --status deferred lists them)\n", plural(s.Deferred, "delivery"), agree(s.Deferred, "is", "are"))
	}
	if s.Failed > 0 {
		a.printf("  %s failed permanently: digest deliveries --status failed shows the replies; after fixing a relay-side refusal run digest send --retry-failed\n", plural(s.Failed, "delivery"))
	}
	if s.Unknown > 0 {
		a.printf("  %s %s an unknown outcome (the relay did not answer after the message was sent, it may have delivered them): check with the relay, then run digest send --retry-unknown to send them again (digest deliveries --status unknown lists them)\n", plural(s.Unknown, "delivery"), agree(s.Unknown, "has", "have"))
	}
}

// countManualSend records a digest send run for /metrics, which reads
// the counters from the database (a scheduled run counts in the daemon).
func (a *App) countManualSend(list string, sum delivery.Summary) {
	db, err := a.store()
	if err == nil {
		err = report.Increment(a.ctx, db, report.CounterManualSends, list, 1)
	}
	if err == nil {
		err = report.Increment(a.ctx, db, report.CounterManualSent, list, int64(sum.Sent))
	}
	if err == nil {
		err = report.Increment(a.ctx, db, report.CounterManualUnknown, list, int64(sum.Unknown))
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "note: the run was not counted for /metrics: %v\n", err)
	}
}
