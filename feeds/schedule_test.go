package feeds

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAdaptiveInterval(t *testing.T) {
	for _, tt := range []struct {
		weekly int
		want   time.Duration
	}{
		{0, MaxInterval},
		{1, MaxInterval},        // a week per item, capped at 6 h
		{28, MaxInterval},       // 6 h per item
		{56, 3 * time.Hour},     // twice as often
		{168, time.Hour},        // one an hour
		{2016, MinInterval},     // one every 5 minutes
		{100000, MinInterval},   // floor
		{336, 30 * time.Minute}, // two an hour
	} {
		if got := AdaptiveInterval(tt.weekly); got != tt.want {
			t.Errorf("AdaptiveInterval(%d) = %s; want %s", tt.weekly, got, tt.want)
		}
	}
	want := []time.Duration{0, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute}
	for n, w := range want {
		if got := Backoff(n); got != w {
			t.Errorf("Backoff(%d) = %s; want %s", n, got, w)
		}
	}
	if Backoff(10) != MaxBackoff || Backoff(1000) != MaxBackoff {
		t.Errorf("back-off is not capped: %s %s", Backoff(10), Backoff(1000))
	}
}

// A busy feed and a quiet one on the fake clock: the poller's rounds
// fetch each when it is due, the busy one more often.
func TestScheduleFollowsPublishingFrequency(t *testing.T) {
	e := newEnv(t)
	feedOf := func(n int, spacing time.Duration) string {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>https://x.example/</link><description>d</description>`)
		for i := range n {
			fmt.Fprintf(&b, `<item><title>Item %d</title><link>https://x.example/%p/%d</link><pubDate>%s</pubDate></item>`,
				i, &b, i, testStart.Add(-time.Duration(i)*spacing).Format(time.RFC1123Z))
		}
		b.WriteString(`</channel></rss>`)
		return b.String()
	}
	busy, quiet := feedOf(168, time.Hour), feedOf(3, 72*time.Hour) // 168 items this week; 3
	var busyHits, quietHits atomic.Int32
	e.mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) { busyHits.Add(1); w.Write([]byte(busy)) })
	e.mux.HandleFunc("/quiet", func(w http.ResponseWriter, r *http.Request) { quietHits.Add(1); w.Write([]byte(quiet)) })
	b := e.add("/busy", Feed{})
	q := e.add("/quiet", Feed{})

	res, err := e.poller.Round(e.ctx)
	if err != nil || len(res) != 2 {
		t.Fatalf("first round: %v %v", res, err)
	}
	gb, _ := e.feeds.Get(e.ctx, b.ID)
	gq, _ := e.feeds.Get(e.ctx, q.ID)
	if d := gb.NextFetch.Sub(testStart); d != time.Hour {
		t.Errorf("busy feed next in %s; want 1h (168 items a week)", d)
	}
	if d := gq.NextFetch.Sub(testStart); d != MaxInterval {
		t.Errorf("quiet feed next in %s; want %s", d, MaxInterval)
	}
	// Walk the clock through six hours in 10-minute steps.
	for range 36 {
		e.clock.Add(10 * time.Minute)
		if _, err := e.poller.Round(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Busy: at 0 and 1:00; then its oldest items leave the week, so the
	// interval grows past an hour and the 10-minute steps catch it at
	// 2:10, 3:20, 4:30, 5:40. Quiet: at 0 and 6:00.
	if busyHits.Load() != 6 || quietHits.Load() != 2 {
		t.Errorf("in 6 hours: busy fetched %d times, quiet %d; want 6 and 2", busyHits.Load(), quietHits.Load())
	}
	// A fixed --every wins over the adaptive schedule.
	every := 15 * time.Minute
	e.feeds.Update(e.ctx, q.ID, Change{Every: &every})
	r := e.fetch(q.ID)
	if !r.NextFetch.Equal(e.clock.Now().Add(every)) {
		t.Errorf("--every 15m: next %s", r.NextFetch.Sub(e.clock.Now()))
	}
}

// Two processes on one database: a due feed is claimed by one round only.
func TestRoundClaimsFeeds(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/atom", "atom.xml", "application/atom+xml")
	f := e.add("/atom", Feed{})
	due, _ := e.feeds.Due(e.ctx, e.clock.Now())
	ok1, _ := e.feeds.claim(e.ctx, due[0], claimHold)
	ok2, _ := e.feeds.claim(e.ctx, due[0], claimHold)
	if !ok1 || ok2 {
		t.Fatalf("claims %v %v; want only the first", ok1, ok2)
	}
	if res, _ := e.poller.Round(e.ctx); len(res) != 0 {
		t.Errorf("a claimed feed was fetched by another round: %v", res)
	}
	_ = f
}

// Retry-After in seconds or as an HTTP date, Cache-Control max-age among
// other directives; what is absent, past or malformed asks for nothing.
func TestServerAskedDelays(t *testing.T) {
	now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120": 2 * time.Minute, " 3600 ": time.Hour, "Sat, 28 Nov 2026 07:30:00 GMT": 90 * time.Minute,
		"Sat, 28 Nov 2026 05:00:00 GMT": 0, "soon": 0, "-5": 0, "": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("Retry-After %q = %s; want %s", in, got, want)
		}
	}
	for in, want := range map[string]time.Duration{
		"public, max-age=1800": 30 * time.Minute, `max-age="600", must-revalidate`: 10 * time.Minute,
		"s-maxage=900": 0, "no-cache": 0, "max-age=0": 0, "MAX-AGE=60": time.Minute,
	} {
		if got := maxAge(in); got != want {
			t.Errorf("Cache-Control %q = %s; want %s", in, got, want)
		}
	}
	// What the server asks for wins over a shorter interval and over a
	// shorter back-off, but never pushes past MaxBackoff.
	if got := nextFetch(now, 5*time.Minute, 0, 0, time.Hour, 0).Sub(now); got != time.Hour {
		t.Errorf("max-age 1h over --every 5m: %s", got)
	}
	if got := nextFetch(now, 0, 0, 1, 0, 3*time.Hour).Sub(now); got != 3*time.Hour {
		t.Errorf("Retry-After 3h after one failure: %s", got)
	}
	if got := nextFetch(now, 0, 0, 0, 0, 30*24*time.Hour).Sub(now); got != MaxBackoff {
		t.Errorf("Retry-After of a month: %s; want %s", got, MaxBackoff)
	}
}
