package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// demoStory is a sample story from the front page digest was born from,
// published hoursAgo before the demo runs so that it falls in today's
// edition window.
type demoStory struct {
	section, title, teaser, slug string
	hoursAgo, score              float64
}

var demoStories = []demoStory{
	{"Americas", "Not ready to recognise Joe Biden as US president: Putin", "'We will work with anyone who has the confidence of the American people,' Putin said on Russian state TV, adding that the decision not to congratulate Biden is a formality with no ulterior motives.", "putin-biden", 2, 9},
	{"Americas", "Biden to announce first Cabinet picks on Tuesday", "'Scaled-down versions of the existing traditions' for Biden's inauguration are planned as the transition team names its first nominees.", "biden-cabinet", 5, 6},
	{"Rest of Asia", "G20 leaders pledge fair supplies of Covid vaccine", "As the pandemic rages, the nations adopted a unified tone on the need to distribute vaccines, drugs and tests fairly around the world.", "g20-vaccine", 3, 7},
	{"Coronavirus Pandemic", "Americans could get first Covid-19 shots by mid-December", "Pfizer expects to have enough doses to protect 25 million people by the end of the year, pending emergency approval from regulators.", "pfizer-shots", 4, 8},
	{"Coronavirus Pandemic", "UAE Covid-19 vaccine: Residents 'relieved' after first jab", "They called the jab a 'confidence booster'.", "uae-jab", 9, 4},
	{"Economy", "UAE's GDP to grow 3.6% in 2021: Central Bank", "Total packages worth Dh388 billion ($105.6 billion) have been rolled out to support the economy through the pandemic and into recovery.", "uae-gdp", 6, 7},
	{"Transport", "Abu Dhabi toll gates: Over 70,000 residents register for exemption", "Accounts can be created online or via the Darb app.", "abu-dhabi-tolls", 7, 5},
	{"Transport", "Exclusive: Inside centre that monitors Dubai traffic", "Intelligent Traffic System in Dubai's Al Barsha was opened by Sheikh Mohammed to watch over the emirate's roads around the clock.", "dubai-traffic", 10, 3},
	{"Government", "Sheikh Mohammed issues new Dubai law on civil aviation", "", "dubai-aviation-law", 11, 2},
	{"Technology", "Revealed: Top 3 selling smartphones in the UAE", "", "top-smartphones", 12, 2},
	{"News", "Sheikh Mohammed invites world to experience UAE's winter", "", "uae-winter", 13, 2},
	{"News", "Dh5,000 fine for insulting someone over the phone in UAE", "", "phone-fine", 14, 1},
	{"Entertainment", "Exclusive: Fauda became a bridge between Arabs, Jews", "", "fauda", 15, 1},
}

// demoHeadlineSections appear only under "More headlines", as the latest
// headlines do at the bottom of the front page.
var demoHeadlineSections = []string{"Government", "Technology", "News", "Entertainment"}

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
	sample := make([]stories.Story, 0, len(demoStories))
	for _, d := range demoStories {
		sample = append(sample, stories.Story{
			Section: d.section, Title: d.title, Teaser: d.teaser, Score: d.score,
			URL:         "https://news.example.com/" + d.slug,
			PublishedAt: now.Add(-time.Duration(d.hoursAgo * float64(time.Hour))).Truncate(time.Second),
		})
	}
	for i := range sample {
		if err := stories.Normalize(&sample[i]); err != nil {
			return fmt.Errorf("demo story %d: %w", i, err)
		}
	}
	if err := st.AddAll(a.ctx, sample); err != nil {
		return err
	}
	zero := 0
	for _, name := range demoHeadlineSections {
		if _, err := st.SetSection(a.ctx, name, stories.SectionChange{MaxStories: &zero}); err != nil {
			return err
		}
	}
	a.printf("database     %s (%d sample stories from the seed front page)\n", a.cfg.DB, len(sample))

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
	a.printf("Open %s in a browser, or an .eml file from %s in a mail client.\n", htmlPath, a.cfg.Outbox)
	a.printf("Send for real: digest send --db %s --smtp 'smtp://127.0.0.1:1025?tls=none'\n", a.cfg.DB)
	return nil
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
