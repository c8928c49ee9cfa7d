package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) sendCommand() *cobra.Command {
	var listName, date string
	var force bool
	var testTo string
	cmd := &cobra.Command{
		Use:   "send [--list L] [--date YYYY-MM-DD] [--smtp URL] [--force]",
		Short: "Build the day's edition if needed and deliver it to the list",
		Long: `Build the list's edition for the date (default: today in the list's time zone)
unless it is already stored, then send one message per active subscriber who
has not received it yet. Running send again for the same edition sends nothing
to anyone already sent, and resumes after an interruption.

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
			transport, err := a.transport()
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
				a.printf("delivering to %s\n", transport)
			}
			sum, err := a.deliver(transport, ed, list)
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
	ed, created, err := eds.Build(a.ctx, a.composer(), list, date, force)
	if errors.Is(err, digest.ErrNothingNew) {
		a.printf("no edition built: %v\n", err)
		return list, ed, false, nil
	}
	if err != nil {
		return list, ed, false, err
	}
	verb := "using stored"
	if created {
		verb = "built"
	}
	a.printf("%s edition %d of %s for %s: %d stories\n  subject: %s\n", verb, ed.ID, list.Name, ed.Date, len(ed.StoryIDs), ed.Subject)
	return list, ed, true, nil
}

func (a *App) deliver(t delivery.Transport, ed digest.Edition, list subscribers.List) (delivery.Summary, error) {
	subs, err := a.subscribers()
	if err != nil {
		return delivery.Summary{}, err
	}
	s := &delivery.Sender{
		DB: a.db, Subs: subs, Transport: t, BaseURL: a.cfg.BaseURL, Now: a.now,
		Logf: func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) },
	}
	return s.Send(a.ctx, ed, list)
}

func (a *App) printSummary(s delivery.Summary) {
	a.printf("sent %d, already sent %d, deferred %d, failed %d in %s\n",
		s.Sent, s.Already, s.Deferred, s.Failed, s.Duration.Round(time.Millisecond))
}
