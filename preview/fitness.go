package preview

import (
	"context"
	"fmt"

	"github.com/newsroom/digest/internal/fitness"
)

// Fitness is what the edition page shows of how the edition fares in
// mail clients: Mailpit's HTML check when a Mailpit is configured, the
// contrast of every text colour in light and dark mode, and the size
// against Gmail's clipping limit.
type Fitness struct {
	// Mailpit is the HTML check of the edition as delivered; nil when
	// there is no Mailpit or the check failed (MailpitNote says which).
	Mailpit     *fitness.Report
	Worst       []WorstFeature
	MailpitNote string
	// MeetsTargets is true when Mailpit's figures reach the theme's
	// targets (fitness.MinSupported, fitness.MaxUnsupported).
	MeetsTargets bool
	Contrast     []ContrastSummary
	HTMLBytes    int
	Clipped      bool
}

// WorstFeature is one of the features costing most on Mailpit's check.
type WorstFeature struct {
	Slug                 string
	Found                int
	Partial, Unsupported float64
}

// ContrastSummary is the contrast check in one colour scheme.
type ContrastSummary struct {
	Scheme string
	Runs   int
	// Failing are the runs of text under WCAG AA's minimum.
	Failing []fitness.Text
	// Closest is the run nearest its minimum.
	Closest fitness.Text
	Err     string
}

// MailpitHint says how to get Mailpit's figures on the page.
const MailpitHint = "Mailpit's HTML check is off: run Mailpit (" + fitness.InstallHint +
	"; mailpit --listen 127.0.0.1:8026 --smtp 127.0.0.1:1026) and start the preview with " +
	"digest preview --serve --mailpit http://127.0.0.1:8026 --mailpit-smtp 127.0.0.1:1026"

// fitnessOf measures the view; with no Mailpit it says how to enable it.
func (s *Server) fitnessOf(ctx context.Context, v View) Fitness {
	f := Fitness{HTMLBytes: v.HTMLPartBytes, Clipped: v.HTMLPartBytes > GmailClipBytes}
	for _, dark := range []bool{false, true} {
		c := ContrastSummary{Scheme: "light"}
		if dark {
			c.Scheme = "dark"
		}
		texts, err := fitness.Contrast(v.HTML, dark)
		if err != nil {
			c.Err = err.Error()
		}
		c.Runs = len(texts)
		for i, t := range texts {
			if !t.OK() {
				c.Failing = append(c.Failing, t)
			}
			if i == 0 || t.Ratio-t.Min < c.Closest.Ratio-c.Closest.Min {
				c.Closest = t
			}
		}
		f.Contrast = append(f.Contrast, c)
	}
	if s.Mailpit == nil {
		f.MailpitNote = MailpitHint
		return f
	}
	r, err := s.Mailpit.Measure(ctx, v.Edition.Edition, v.Edition.List)
	if err != nil {
		f.MailpitNote = fmt.Sprintf("Mailpit's HTML check failed: %v", err)
		return f
	}
	f.Mailpit = &r
	f.MeetsTargets = r.Meets()
	for _, w := range r.Worst(5) {
		p, u := w.Cost(r.Total.Nodes)
		f.Worst = append(f.Worst, WorstFeature{Slug: w.Slug, Found: w.Score.Found, Partial: p, Unsupported: u})
	}
	return f
}
