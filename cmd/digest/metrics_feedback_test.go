package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
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
	body := scrapeTotals(t, c)
	for _, want := range []string{`digest_manual_sends_total{list="daily"} 1`, `digest_manual_messages_sent_total{list="daily"} 1`, "digest_suppressions 1", `digest_bounces_total{kind="hard"} 0`, "digest_clicks_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A digest send whose relay answers the end of DATA too late counts
// those messages as unknown on /metrics, not as sent.
func TestMetricsCountManualUnknownOutcomes(t *testing.T) {
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.DataHook = func(smtptest.Message) error { time.Sleep(600 * time.Millisecond); return nil }
	})
	c := newSendingCLI(t)
	c.addMany(3)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	if out, errs, code := c.run("send", "--smtp", srv.URL()+"&timeout=200ms"); code != 3 || !strings.Contains(out, "unknown 3") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	body := scrapeTotals(t, c)
	for _, want := range []string{`digest_manual_messages_unknown_total{list="daily"} 3`, `digest_manual_messages_sent_total{list="daily"} 0`, `digest_manual_sends_total{list="daily"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	waitAccepted(t, srv, 3)
}

// scrapeTotals is /metrics of a fresh daemon over the CLI's database:
// what the database holds, as after a restart.
func scrapeTotals(t *testing.T, c *cli) string {
	t.Helper()
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
	return string(body)
}

// A refused webhook is counted in the database, so /metrics of a
// restarted daemon still shows it.
func TestWebhookFailuresSurviveARestart(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	p := c.processor(t)
	a := &App{ctx: context.Background(), cfg: config.Default()}
	a.cfg.Webhooks.PostmarkUser, a.cfg.Webhooks.PostmarkPassword = "postmark", "pm-secret"
	h, err := a.webhooks(p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	req := httptest.NewRequest("POST", "/webhooks/postmark", strings.NewReader(`{"RecordType":"Bounce","ID":1,"Type":"HardBounce","Email":"ada@example.com"}`))
	req.SetBasicAuth("postmark", "guess")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	if body := scrapeTotals(t, c); !strings.Contains(body, `digest_webhook_failures_total{provider="postmark"} 1`) {
		t.Errorf("/metrics lacks the webhook failure:\n%s", body)
	}
}
