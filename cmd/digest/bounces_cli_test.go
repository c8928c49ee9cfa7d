package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/config"
	"github.com/newsroom/digest/internal/imaptest"
	"github.com/newsroom/digest/internal/smtptest"
)

// corpusOutcome is what bounces process prints for each message of the
// corpus when it names a real delivery.
var corpusOutcome = map[string]string{
	"postfix-hard.eml":    "hard bounce 5.1.1 for postfix-hard@example.net: 1 membership(s) marked bounced",
	"gmail-hard.eml":      "hard bounce 5.1.1 for gmail-hard@example.net: 1 membership(s) marked bounced",
	"exchange-hard.eml":   "hard bounce 5.1.10 for exchange-hard@example.net: 1 membership(s) marked bounced",
	"yahoo-hard.eml":      "hard bounce for yahoo-hard@example.net: 1 membership(s) marked bounced",
	"qmail-hard.eml":      "hard bounce 5.1.1 for qmail-hard@example.net: 1 membership(s) marked bounced",
	"ses-hard.eml":        "hard bounce 5.1.1 for ses-hard@example.net: 1 membership(s) marked bounced",
	"postfix-delayed.eml": "soft bounce 4.2.2 for postfix-delayed@example.net: 1 in the last 5 editions",
	"exim-soft.eml":       "soft bounce 4.2.2 for exim-soft@example.net: 1 in the last 5 editions",
	"arf-yahoo.eml":       "complaint from arf-yahoo@example.net: 1 membership(s) unsubscribed",
	"arf-microsoft.eml":   "complaint from arf-microsoft@example.net: 1 membership(s) unsubscribed",
	"delivered.eml":       "a dsn report that asks for nothing (no failed recipient)",
	"autoreply.eml":       "not a delivery report: left in the mailbox",
	"reply.eml":           "not a delivery report: left in the mailbox",
}

// Every message of the corpus (Postfix, Gmail, Exchange, Yahoo, qmail,
// Exim, SES, ARF from Yahoo and Microsoft, a success DSN, an auto-reply,
// a person's reply), addressed to a real delivery's VERP address, through
// digest bounces process DIR: each read as expected and acted on.
func TestBouncesProcessCorpus(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.env["DIGEST_BOUNCE_ADDRESS"] = "bounce@bounces.example.com"
	files, _ := filepath.Glob(filepath.Join("..", "..", "bounces", "testdata", "*.eml"))
	if len(files) != len(corpusOutcome) {
		t.Fatalf("%d corpus files, %d expected outcomes", len(files), len(corpusOutcome))
	}
	for _, f := range files {
		c.must("subscribers", "add", strings.TrimSuffix(filepath.Base(f), ".eml")+"@example.net")
	}
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.must("send", "--smtp", srv.URL())
	sent := lastSends(t, srv, 0)
	dir := filepath.Join(c.dir, "corpus")
	os.MkdirAll(dir, 0o755)
	for _, f := range files {
		name := filepath.Base(f)
		s, ok := sent[strings.TrimSuffix(name, ".eml")+"@example.net"]
		if !ok {
			t.Fatalf("no delivery for %s", name)
		}
		os.WriteFile(filepath.Join(dir, name), []byte(bounceFor(t, name, s)), 0o644)
	}
	out := c.must("bounces", "process", dir)
	for name, want := range corpusOutcome {
		if !strings.Contains(out, filepath.Join(dir, name)+": "+want) {
			t.Errorf("%s: output lacks %q", name, want)
		}
	}
	if t.Failed() {
		t.Logf("bounces process printed:\n%s", out)
	}
}

// digest bounces fetch against a real IMAP server: what it did, one line
// a message, a message that is no report left in the mailbox as such;
// a second run takes nothing.
func TestBouncesFetchCommand(t *testing.T) {
	srv := smtptest.Start(t, nil)
	mbox := imaptest.Start(t)
	c := newSendingCLI(t)
	c.env["DIGEST_BOUNCE_ADDRESS"] = "bounce@bounces.example.com"
	c.env["DIGEST_BOUNCE_IMAP_URL"] = mbox.URL("INBOX", "")
	c.must("subscribers", "add", "gone@example.net")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.must("send", "--smtp", srv.URL())
	mbox.Append(t, "INBOX", bounceFor(t, "gmail-hard.eml", lastSends(t, srv, 0)["gone@example.net"]))
	reply, _ := os.ReadFile(filepath.Join("..", "..", "bounces", "testdata", "reply.eml"))
	mbox.Append(t, "INBOX", string(reply))
	out, errs, code := c.run("bounces", "fetch")
	if code != 0 || !strings.Contains(out, "hard bounce 5.1.1 for gone@example.net") || !strings.Contains(out, "\nnot a delivery report: left in the mailbox\n") ||
		!strings.Contains(out, "1 processed, 1 left in the mailbox") {
		t.Errorf("bounces fetch: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, imaptest.Password) || strings.Contains(out+errs, "s3cret") {
		t.Error("bounces fetch printed the mailbox password")
	}
	if out := c.must("bounces", "fetch"); !strings.Contains(out, "0 processed, 0 left") {
		t.Errorf("second fetch: %s", out)
	}
	if out := c.must("subscribers", "list", "--status", "bounced"); !strings.Contains(out, "gone@example.net") {
		t.Errorf("gone@ is not bounced:\n%s", out)
	}
}

// serve's loop reads the mailbox at once and then every interval: a
// bounce that arrives after the first round is taken by a later one.
func TestServeReadsTheBounceMailboxPeriodically(t *testing.T) {
	mbox := imaptest.Start(t)
	c := newCLI(t)
	c.must("subscribers", "add", "reader@example.net") // a store with its migrations
	p := c.processor(t)
	mb, err := bounces.ParseMailbox(mbox.URL("INBOX", ""))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := os.ReadFile(filepath.Join("..", "..", "bounces", "testdata", "reply.eml"))
	mbox.Append(t, "INBOX", string(reply))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fetchBounces(ctx, p, mb, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	skipped := func(n int) bool {
		got := 0
		for _, f := range mbox.Flags(t, "INBOX") {
			if imaptest.Has(f, bounces.FlagSkipped) {
				got++
			}
		}
		return got == n
	}
	waitFor(t, "the first message read", func() bool { return skipped(1) })
	mbox.Append(t, "INBOX", strings.Replace(string(reply), "Message-ID: <", "Message-ID: <second.", 1))
	waitFor(t, "the second message read by a later round", func() bool { return skipped(2) })
	cancel()
	<-done
}

// processor is the bounce processor serve builds, over the CLI's
// database.
func (c *cli) processor(t *testing.T) *bounces.Processor {
	t.Helper()
	cfg := config.Default()
	cfg.DB = c.env["DIGEST_DB"]
	a := &App{ctx: context.Background(), cfg: cfg, now: time.Now, stderr: io.Discard}
	t.Cleanup(func() {
		if a.db != nil {
			a.db.Close()
		}
	})
	p, err := a.processor(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
