package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/newsroom/digest/delivery"
)

// progress shows a running send on standard error: a progress bar (sent,
// rate, ETA) when that is a terminal, plain log lines otherwise (cron,
// systemd, a pipe), at most one per progressEvery and at each tenth of
// the list. Per-recipient lines (failed, deferred, bounced) go to the
// same writer without breaking the bar.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	bar      *progressbar.ProgressBar
	lastLine time.Time
	lastTen  int
	finished bool
}

const progressEvery = 10 * time.Second

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(s delivery.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished || s.Total == 0 {
		return
	}
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(s.Total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription("sending"),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("msg"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		p.bar.Describe(fmt.Sprintf("sent %d, deferred %d, failed %d", s.Sent, s.Deferred, s.Failed))
		p.bar.Set(s.Done)
		return
	}
	tenth := s.Done * 10 / s.Total
	if s.Done == 0 || tenth == p.lastTen && time.Since(p.lastLine) < progressEvery && s.Done < s.Total {
		return
	}
	p.lastTen, p.lastLine = tenth, time.Now()
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Sent) / s.Elapsed.Seconds()
	}
	eta := "-"
	if rate > 0 && s.Done < s.Total {
		eta = (time.Duration(float64(s.Total-s.Done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "progress: %d/%d (%d%%) sent %d, deferred %d, failed %d, %.0f msg/s, eta %s\n",
		s.Done, s.Total, s.Done*100/s.Total, s.Sent, s.Deferred, s.Failed, rate, eta)
}

// logf writes one line, clearing the bar first so it stays readable.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil && !p.finished {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// finish removes the bar; the summary follows on standard output.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil && !p.finished {
		p.bar.Finish()
	}
	p.finished = true
}
