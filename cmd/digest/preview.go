package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/internal/fitness"
	"github.com/newsroom/digest/preview"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) previewSource() (*preview.Source, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &preview.Source{DB: db, Composer: a.composer(), BaseURL: a.cfg.BaseURL, Now: a.now}, nil
}

func (a *App) previewCommand() *cobra.Command {
	var listName, date, as, out, addr, mailpitURL, mailpitSMTP string
	var text, serve bool
	cmd := &cobra.Command{
		Use:   "preview [--list L] [--date D] [--as EMAIL] [-o FILE] [--text] | --serve [--addr 127.0.0.1:8025]",
		Short: "Show an edition as subscribers will get it, without recording anything",
		Long: `Write the HTML (or with --text the plain text) of the list's edition for the date
to standard output or FILE, exactly as send would deliver it. A stored edition
is shown as stored; for a date without one, what would be built now (nothing is
stored). --date next is the next edition not yet stored. --as fills in that
subscriber's name and links, and shows their variant: only the sections they
chose, the weekly edition for a weekly reader (an error names the date to look
at when they get nothing of this one); without it a neutral sample reader is
used. Warnings (stories without a teaser, duplicate links, sections cut at
their limit, Gmail clipping) go to standard error.

--serve starts a local web preview instead (default 127.0.0.1:8025): every list
with its stored editions and the next one, each with checks, headers, size, the
HTML at desktop and mobile widths, the text part, and its reader variants
(frequency and section set) with how many readers choose each. It reads the store on each
request, so curation shows on reload. Each edition page shows its mail-client
fitness: the contrast of every text colour (light and dark mode), the size
against Gmail's clipping limit, and with --mailpit URL (a running Mailpit's web
address; --mailpit-smtp HOST:PORT its SMTP port, default the URL's host, port
1025) Mailpit's HTML check of the edition as delivered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDate(date, true); err != nil {
				return err
			}
			if as != "" {
				if _, err := address(as); err != nil {
					return err
				}
			}
			a.live = serve // the preview server must see later curation
			src, err := a.previewSource()
			if err != nil {
				return err
			}
			if serve {
				for _, name := range []string{"list", "date", "as", "output", "text"} {
					if cmd.Flags().Changed(name) {
						return usagef("--%s does not go with --serve: pick the list, date and subscriber in the browser", name)
					}
				}
				return a.servePreview(src, addr, mailpitURL, mailpitSMTP)
			}
			for _, name := range []string{"addr", "mailpit", "mailpit-smtp"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s needs --serve", name)
				}
			}
			ed, err := src.Load(a.ctx, listName, date)
			if err != nil {
				return err
			}
			rcpt, err := src.Recipient(a.ctx, as)
			if err != nil {
				return err
			}
			// The reader's own variant (sections, weekly), as send
			// delivers it to them.
			if ed, err = src.ForReader(a.ctx, ed, rcpt); err != nil {
				return err
			}
			if ed.IsVariant() {
				fmt.Fprintf(a.stderr, "%s gets the variant %s\n", rcpt.Email, ed.Variant)
			}
			v, err := src.Render(ed, rcpt, "")
			if err != nil {
				return err
			}
			for _, w := range v.Warnings {
				fmt.Fprintf(a.stderr, "warning: %s\n", w.Message)
			}
			body := []byte(v.Body(text))
			if out == "" || out == "-" {
				_, err := a.stdout.Write(body)
				return err
			}
			if err := writeFileAtomic(out, body); err != nil {
				return fmt.Errorf("write preview: %w", err)
			}
			what := "not stored: what send would build now"
			if ed.Stored {
				what = fmt.Sprintf("stored edition %d", ed.ID)
			}
			fmt.Fprintf(a.stderr, "wrote %s: %s for %s, %s (%s)\n", out, ed.List.Name, ed.Date, preview.FormatBytes(len(body)), what)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listName, "list", subscribers.DefaultList, "list to preview")
	f.StringVar(&date, "date", "", "edition date, YYYY-MM-DD or next (default today in the list's time zone)")
	f.StringVar(&as, "as", "", "show the copy of this subscriber (default a sample reader)")
	f.StringVarP(&out, "output", "o", "", "write to FILE instead of standard output")
	f.BoolVar(&text, "text", false, "write the plain-text part instead of the HTML")
	f.BoolVar(&serve, "serve", false, "start the local web preview")
	f.StringVar(&addr, "addr", preview.DefaultAddr, "address of the web preview (loopback unless you mean to share it)")
	f.StringVar(&mailpitURL, "mailpit", "", "web address of a running Mailpit: each edition page shows its HTML check")
	f.StringVar(&mailpitSMTP, "mailpit-smtp", "", "SMTP host:port of that Mailpit (default: its host, port 1025)")
	return cmd
}

func (a *App) servePreview(src *preview.Source, addr, mailpitURL, mailpitSMTP string) error {
	var mp *fitness.Mailpit
	if mailpitURL != "" {
		var err error
		if mp, err = fitness.Connect(a.ctx, mailpitURL, mailpitSMTP); err != nil {
			return fmt.Errorf("%w: start Mailpit or leave out --mailpit", err)
		}
	} else if mailpitSMTP != "" {
		return usagef("--mailpit-smtp needs --mailpit URL")
	}
	ln, err := preview.Listen(addr)
	if err != nil {
		return err
	}
	if !preview.IsLoopback(addr) {
		fmt.Fprintf(a.stderr, "warning: %s is not a loopback address: anyone who reaches it sees unsent editions and, with ?as=, subscribers' names\n", addr)
	}
	a.printf("preview at http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	srv := &preview.Server{Source: src, Mailpit: mp, Logf: func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }}
	return srv.Serve(a.ctx, ln)
}
