package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/sample"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

var demoSubscribers = []struct{ email, name string }{
	{"ada@example.com", "Ada Lovelace"},
	{"grace@example.com", "Grace Hopper"},
	{"reader@example.org", ""},
}

func (a *App) demoCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Run the whole job on sample data: store, edition, outbox, preview",
		Long: `Create a database in DIR (default ./demo), load sample stories from the front
page digest was born from and a few subscribers, build today's edition, deliver
it to DIR/outbox as .eml files and write DIR/preview.html and DIR/preview.txt.
Running it again reuses DIR and sends nothing twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "demo", "folder for the demo's database, outbox and previews")
	return cmd
}

func (a *App) runDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	a.cfg.DB = filepath.Join(dir, "digest.db")
	a.cfg.Outbox = filepath.Join(dir, "outbox")
	a.cfg.SMTPURL, a.cfg.Relays = "", nil
	st, err := a.stories()
	if err != nil {
		return err
	}
	now := a.now()
	frontPage := sample.FrontPage(now)
	for i := range frontPage {
		if err := stories.Normalize(&frontPage[i]); err != nil {
			return fmt.Errorf("demo story %d: %w", i, err)
		}
	}
	if err := st.AddAll(a.ctx, frontPage); err != nil {
		return err
	}
	zero := 0
	for _, name := range sample.HeadlineSections {
		if _, err := st.SetSection(a.ctx, name, stories.SectionChange{MaxStories: &zero}); err != nil {
			return err
		}
	}
	a.printf("database     %s (%d sample stories from the seed front page)\n", a.cfg.DB, len(frontPage))

	subs, err := a.subscribers()
	if err != nil {
		return err
	}
	var first subscribers.Subscriber
	for i, d := range demoSubscribers {
		sub, err := subs.Add(a.ctx, d.email, d.name, subscribers.DefaultList)
		if err != nil {
			return err
		}
		if i == 0 {
			first = sub
		}
	}
	a.printf("subscribers  %d on list %s\n", len(demoSubscribers), subscribers.DefaultList)

	list, ed, ok, err := a.edition(subscribers.DefaultList, "", true)
	if err != nil || !ok {
		return err
	}
	sum, err := a.deliver(delivery.Outbox{Dir: a.cfg.Outbox}, ed, list)
	if err != nil {
		return err
	}
	a.printf("outbox       %s: %s written, %d already there from an earlier run\n", a.cfg.Outbox, plural(sum.Sent, "message"), sum.Already)

	htmlBody, textBody := ed.Personalize(digest.RecipientFor(first, list.Name, a.cfg.BaseURL))
	htmlPath, textPath := filepath.Join(dir, "preview.html"), filepath.Join(dir, "preview.txt")
	if err := writeFileAtomic(htmlPath, []byte(htmlBody)); err != nil {
		return err
	}
	if err := writeFileAtomic(textPath, []byte(textBody)); err != nil {
		return err
	}
	a.printf("preview      %s and %s (as %s sees it)\n\n", htmlPath, textPath, first.Email)
	a.printf("Open %s in a browser, or an .eml file from %s in a mail client. Next:\n", htmlPath, a.cfg.Outbox)
	for i, step := range demoNextSteps(a.cfg.DB, a.cfg.Outbox) {
		a.printf("  %d. %s\n     %s\n", i+1, step[0], step[1])
	}
	return nil
}

// demoNextSteps are the three things a new user does after the demo,
// each a command that works as printed: the outbox run already recorded
// the demo subscribers' deliveries, so sending "for real" again would
// send nothing; a test copy, a list of one's own and the web preview do
// what they say.
func demoNextSteps(db, outbox string) [][2]string {
	q := shellQuote
	return [][2]string{
		{"Send yourself a [TEST] copy (add --smtp URL to go through your relay; nothing is recorded):",
			"digest send --db " + q(db) + " --outbox " + q(outbox) + " --test you@example.com"},
		{"Make the list yours (send and serve refuse the placeholder sender before a real relay):",
			"digest lists update daily --db " + q(db) + ` --from "Your Newsroom <news@your-domain.example>" --address "1 Your Street, Your City"`},
		{"Browse its editions and the next one at http://127.0.0.1:8025/ (Ctrl-C to stop):",
			"digest preview --db " + q(db) + " --serve"},
	}
}

// shellQuote quotes a path for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeFileAtomic writes through a temporary file and a rename, so a
// reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
