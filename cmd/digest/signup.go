package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/web"
)

// wireSignup gives the web server the public sign-up: confirmations go
// through the delivery engine (the configured SMTP relay or outbox,
// DKIM-signed, from the list's sender), settings from the configuration.
func (a *App) wireSignup(site *web.Server) error {
	dkim, err := a.loadDKIM()
	if err != nil {
		return err
	}
	site.Confirmations = &delivery.Confirmations{Transport: a.transport, DKIM: dkim, Now: a.now}
	site.Signup = a.signupSettings()
	return nil
}

// signupSettings are the sign-up's settings from the configuration, the
// same for the server and the form snippet.
func (a *App) signupSettings() web.SignupSettings {
	c := a.composer()
	return web.SignupSettings{
		BaseURL: a.cfg.BaseURL, RecordIP: a.cfg.RecordIP,
		BlockedDomains: strings.Split(a.cfg.Signup.BlockedDomains, ","), ConsentText: a.cfg.Signup.ConsentText,
		Accent: c.Brand.AccentLight(), Brand: c.Brand.Name,
	}
}

// confirmer sends confirmation mails from the CLI through the delivery
// engine, with the same per-address limits as the public form.
func (a *App) confirmer() (*delivery.Confirmations, error) {
	dkim, err := a.loadDKIM()
	if err != nil {
		return nil, err
	}
	return &delivery.Confirmations{Transport: a.transport, DKIM: dkim, Now: a.now}, nil
}

// requestConfirmation stores a pending sign-up and mails its link; it
// returns the outcome (subscribers.SignupSend, ...).
func (a *App) requestConfirmation(c *delivery.Confirmations, email, name, list, source string) (int, error) {
	s, err := a.subscribers()
	if err != nil {
		return 0, err
	}
	token, outcome, err := s.RequestSignup(a.ctx, subscribers.SignupRequest{Email: email, Name: name, List: list, Source: source})
	if err != nil || outcome != subscribers.SignupSend {
		return outcome, err
	}
	l, err := s.GetList(a.ctx, list)
	if err != nil {
		return 0, err
	}
	link := strings.TrimRight(a.cfg.BaseURL, "/") + "/confirm/" + token
	if err := c.SendConfirmation(a.ctx, l, email, link); err != nil {
		return 0, fmt.Errorf("confirmation to %s: %w; the sign-up is stored: try again in %s", email, err, subscribers.ConfirmEvery)
	}
	return outcome, nil
}

// addByConfirmation is subscribers add --confirm.
func (a *App) addByConfirmation(email, name string, lists []string) error {
	c, err := a.confirmer()
	if err != nil {
		return err
	}
	for _, l := range lists {
		outcome, err := a.requestConfirmation(c, email, name, l, subscribers.SourceCLI)
		if err != nil {
			return err
		}
		switch outcome {
		case subscribers.SignupSend:
			a.printf("confirmation sent to %s for %s: they join once they press the button behind the link\n", email, l)
		case subscribers.SignupActive:
			a.printf("%s is already active on %s: no confirmation sent\n", email, l)
		default:
			a.printf("no confirmation sent to %s for %s: one went out in the last %s (at most %d a day); try later\n",
				email, l, subscribers.ConfirmEvery, subscribers.ConfirmPerDay)
		}
	}
	return nil
}

// confirmBatch sends the confirmations of import --confirm as each batch
// commits, counting the outcomes.
type confirmBatch struct {
	a                     *App
	c                     *delivery.Confirmations
	list                  string
	sent, active, limited int
	failed                int
	firstErr              error
}

func (a *App) newConfirmBatch(list string) (*confirmBatch, error) {
	c, err := a.confirmer()
	if err != nil {
		return nil, err
	}
	return &confirmBatch{a: a, c: c, list: list}, nil
}

func (b *confirmBatch) add(email, name string) {
	outcome, err := b.a.requestConfirmation(b.c, email, name, b.list, subscribers.SourceImport)
	switch {
	case err != nil:
		b.failed++
		fmt.Fprintf(b.a.stderr, "confirmation to %s: %s\n", email, oneLine(err.Error()))
	case outcome == subscribers.SignupSend:
		b.sent++
	case outcome == subscribers.SignupActive:
		b.active++
	default:
		b.limited++
	}
}

func (b *confirmBatch) summary() string {
	return fmt.Sprintf("confirmations: %d sent, %d already active, %d held back by the per-address limit, %d failed", b.sent, b.active, b.limited, b.failed)
}

// listPending is subscribers list --status pending: sign-ups waiting for
// their confirmation.
func (a *App) listPending(byList bool, list string, asJSON bool) error {
	s, err := a.subscribers()
	if err != nil {
		return err
	}
	if !byList {
		list = ""
	}
	if asJSON {
		return streamJSON(a.stdout, func(emit func(any) error) error {
			return s.EachPending(a.ctx, list, func(p subscribers.PendingSignup) error { return emit(p) })
		})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tLIST\tSTATUS\tSOURCE\tASKED\tEXPIRES")
	n := 0
	err = s.EachPending(a.ctx, list, func(p subscribers.PendingSignup) error {
		n++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Email, p.Name, p.List, subscribers.StatusPending, p.Source,
			p.CreatedAt.Format(timeLayout), p.ExpiresAt.Format(timeLayout))
		return nil
	})
	if n == 0 && err == nil {
		fmt.Fprintln(tw, "(no pending sign-ups)")
	}
	tw.Flush()
	return err
}

// consentRows are the consent records as subscribers show prints them.
func consentRows(es []subscribers.ConsentEvent) [][]string {
	var out [][]string
	for _, e := range es {
		out = append(out, []string{e.At.Format(timeLayout), e.List, e.Action, e.Source, e.ConsentVersion, e.IP, oneLine(e.Detail)})
	}
	return out
}

func (a *App) listsFormCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "form NAME",
		Short: "Print an HTML sign-up form for the list, to paste into the newsroom's site",
		Long: `Print an HTML snippet: a plain form (no JavaScript) that posts to
BASE/subscribe/NAME with the list's sections as checkboxes. A person who submits
it gets the daemon's own sign-up page, filled in, with a fresh anti-bot stamp,
to press Subscribe once more; then a confirmation mail. The list must be open
(lists update NAME --signup open).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, l, err := a.listStore(args[0])
			if err != nil {
				return err
			}
			if l.Signup == subscribers.SignupClosed {
				return fmt.Errorf("list %s takes no sign-ups: open it with digest lists update %s --signup open", l.Name, l.Name)
			}
			secs, err := s.ListSections(a.ctx, l)
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.stdout, web.FormSnippet(a.signupSettings(), l, secs))
			return err
		},
	}
}
