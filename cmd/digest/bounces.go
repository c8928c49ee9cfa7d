package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/secret"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/report"
)

func (a *App) bouncesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bounces", Short: "Read bounces, complaints and unsubscribe requests that come back by mail"}
	var asJSON bool
	process := &cobra.Command{
		Use:   "process [FILE|DIR|-] [--json]",
		Short: "Process one message (a file, or standard input as an MTA pipe delivers it) or a folder of .eml files",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "-"
			if len(args) == 1 {
				name = args[0]
			}
			return a.bouncesProcess(name, asJSON)
		},
	}
	process.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary of the messages processed")
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Process the unseen messages of the bounce mailbox (bounce_imap_url)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.BounceIMAPURL == "" {
				return usagef(`no bounce mailbox: set bounce_imap_url = "imaps://user:pass@host/INBOX" in digest.toml or DIGEST_BOUNCE_IMAP_URL`)
			}
			p, err := a.processor(func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) })
			if err != nil {
				return err
			}
			mb, err := bounces.ParseMailbox(a.cfg.BounceIMAPURL)
			if err != nil {
				return usageError{err}
			}
			res, err := p.Fetch(a.ctx, mb)
			for _, o := range res.Outcomes {
				a.printf("%s\n", o)
			}
			if err != nil && len(res.Outcomes) == 0 {
				return err // nothing read: no summary that looks like a round
			}
			a.printf("%d processed, %d left in the mailbox (%s)\n", res.Processed, res.Skipped, mb)
			return err
		},
	}
	cmd.AddCommand(process, fetch)
	return cmd
}

// processor is the bounce processor over the store, with the VERP key.
func (a *App) processor(logf func(string, ...any)) (*bounces.Processor, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	key, err := secret.Key(a.ctx, db, a.cfg.BounceSecret, secret.UseVERP)
	if err != nil {
		return nil, err
	}
	return &bounces.Processor{DB: db, Key: key, Now: a.now, Logf: logf}, nil
}

// processedJSON is what bounces process --json prints.
type processedJSON struct {
	Processed int             `json:"processed"`
	Changed   int             `json:"changed"`
	Left      int             `json:"left"`
	Messages  []messageResult `json:"messages"`
}

// messageResult is one message's outcome in processedJSON.
type messageResult struct {
	File    string `json:"file"`
	Kind    string `json:"kind"`
	Changed bool   `json:"changed"`
	Left    bool   `json:"left"`
	Text    string `json:"text"`
}

func (a *App) bouncesProcess(name string, asJSON bool) error {
	sum := processedJSON{Messages: []messageResult{}}
	p, err := a.processor(func(format string, args ...any) { fmt.Fprintf(a.stderr, "note: "+format+"\n", args...) })
	if err != nil {
		return err
	}
	var files []string
	if name != "-" {
		st, err := os.Stat(name)
		if err != nil {
			return fmt.Errorf("bounces process: %w", err)
		}
		if st.IsDir() {
			if files, err = filepath.Glob(filepath.Join(name, "*.eml")); err != nil {
				return err
			}
			sort.Strings(files)
			if len(files) == 0 {
				return fmt.Errorf("bounces process: %s has no .eml files", name)
			}
		} else {
			files = []string{name}
		}
	}
	one := func(label string, r io.Reader) error {
		raw, err := io.ReadAll(io.LimitReader(r, 10<<20))
		if err != nil {
			return fmt.Errorf("bounces process: %w", err)
		}
		out, err := p.ProcessMessage(a.ctx, raw, bounces.SourcePipe)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		sum.Processed++
		if out.Changed {
			sum.Changed++
		}
		if out.Left {
			sum.Left++
		}
		sum.Messages = append(sum.Messages, messageResult{File: label, Kind: string(out.Kind), Changed: out.Changed, Left: out.Left, Text: out.Text})
		switch {
		case asJSON:
		case label != "-":
			a.printf("%s: %s\n", label, out)
		default:
			a.printf("%s\n", out)
		}
		return nil
	}
	done := func() error { return a.summary(asJSON, func() any { return sum }, func() {}) }
	if files == nil {
		if err := one("-", a.stdin); err != nil {
			return err
		}
		return done()
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("bounces process: %w", err)
		}
		err = one(f, fh)
		fh.Close()
		if err != nil {
			return err
		}
	}
	return done()
}

// feedback is what a send needs to prepare for what comes back.
func (a *App) feedback() (delivery.Feedback, error) {
	if a.readOnly {
		// send --test writes nothing, not even the key: a test copy has
		// no delivery for a VERP address to name and no clicks to count,
		// so it goes out with the From address as envelope sender.
		return delivery.Feedback{}, nil
	}
	db, err := a.store()
	if err != nil {
		return delivery.Feedback{}, err
	}
	master, err := secret.Master(a.ctx, db, a.cfg.BounceSecret)
	if err != nil {
		return delivery.Feedback{}, err
	}
	return delivery.Feedback{
		BounceAddress: a.cfg.BounceAddress,
		VERPKey:       secret.Derive(master, secret.UseVERP),
		ClickKey:      secret.Derive(master, secret.UseClick),
	}, nil
}

// webhooks builds the providers' webhooks from the configuration; nil
// when none is configured.
func (a *App) webhooks(p *bounces.Processor, logger *slog.Logger) (*bounces.Webhooks, error) {
	c := a.cfg.Webhooks
	h := &bounces.Webhooks{P: p, SES: c.SES, PostmarkUser: c.PostmarkUser, PostmarkPassword: c.PostmarkPassword, MailgunSigningKey: c.MailgunSigningKey}
	for _, t := range strings.Split(c.SESTopicARNs, ",") {
		if t = strings.TrimSpace(t); t != "" {
			h.SESTopics = append(h.SESTopics, t)
		}
	}
	if c.SendGridPublicKey != "" {
		k, err := bounces.ParseSendGridKey(c.SendGridPublicKey)
		if err != nil {
			return nil, usageError{err}
		}
		h.SendGridKey = k
	}
	h.Failed = func(provider string) {
		if err := report.Increment(context.Background(), p.DB, report.CounterWebhookFailure, provider, 1); err != nil {
			logger.Warn("webhook failure not counted", "err", err)
		}
	}
	return h, nil
}

// readTotals turns the database's figures into the metrics' plain
// counts.
func (a *App) readTotals() func() (metrics.Totals, error) {
	return func() (metrics.Totals, error) {
		db, err := a.store()
		if err != nil {
			return metrics.Totals{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t, err := report.ReadTotals(ctx, db)
		if err != nil {
			return metrics.Totals{}, err
		}
		return metrics.Totals{
			ManualSends: t.Counters[report.CounterManualSends], ManualSent: t.Counters[report.CounterManualSent],
			ManualUnknown: t.Counters[report.CounterManualUnknown],
			Bounces:       map[string]int64{"hard": t.Events["hard"], "soft": t.Events["soft"]}, Complaints: t.Events["complaint"],
			Unsubscribes: t.Events["unsubscribe"], Suppressions: t.Suppressions, Clicks: t.Clicks,
			WebhookFailures: t.Counters[report.CounterWebhookFailure],
		}, nil
	}
}

// fetchBounces reads the bounce mailbox every interval until ctx ends.
func fetchBounces(ctx context.Context, p *bounces.Processor, mb bounces.Mailbox, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := p.Fetch(ctx, mb)
		if err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("bounce mailbox", "err", err)
		} else if res.Processed+res.Skipped > 0 {
			logger.Info("bounce mailbox read", "processed", res.Processed, "left", res.Skipped)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
