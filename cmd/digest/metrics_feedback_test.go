package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/config"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/metrics"
)

// /metrics reads manual sends, suppressions and the like from the
// database: a fresh daemon (a restart) shows what a digest send did.
func TestMetricsCountManualSendsFromTheDatabase(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("subscribers", "add", "bob@example.com")
	c.must("suppressions", "add", "bob@example.com", "--reason", "legal")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	if out := c.must("send", "--smtp", srv.URL()); !strings.Contains(out, "1 suppressed addresses skipped") {
		t.Errorf("summary: %s", out)
	}
	cfg := config.Default()
	cfg.DB = c.env["DIGEST_DB"]
	a := &App{ctx: context.Background(), cfg: cfg, now: time.Now}
	defer func() {
		if a.db != nil {
			a.db.Close()
		}
	}()
	m := metrics.New()
	m.ReadTotals(a.readTotals())
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`digest_manual_sends_total{list="daily"} 1`, `digest_manual_messages_sent_total{list="daily"} 1`, "digest_suppressions 1", `digest_bounces_total{kind="hard"} 0`, "digest_clicks_total 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
