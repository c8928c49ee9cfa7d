package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// addMany puts n subscribers on the daily list in one transaction.
func (c *cli) addMany(n int) []string {
	c.t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, c.env["DIGEST_DB"])
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var emails []string
	now := time.Now().Unix()
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		for i := 1; i <= n; i++ {
			email := fmt.Sprintf("reader%04d@example.org", i)
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, name, token, created_at, updated_at) VALUES (?, '', ?, ?, ?) RETURNING id`,
				email, subscribers.NewToken(), now, now).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
				SELECT id, ?, 'active', ?, ? FROM lists WHERE name = 'daily'`, id, now, now); err != nil {
				return err
			}
			emails = append(emails, email)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return emails
}

// ledgerCounts counts the ledger's rows by status.
func (c *cli) ledgerCounts() map[string]int {
	c.t.Helper()
	out := c.must("deliveries", "--json")
	var rows []struct{ Status string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		c.t.Fatalf("deliveries --json: %v\n%s", err, out)
	}
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Status]++
	}
	return counts
}

// buildBinary is the real digest command, compiled once per test run.
func buildBinary(t *testing.T) string { return storetest.Binary(t) }

// binarySend sets up what the real-binary send tests share: the built
// binary, a CLI environment with members subscribers on the daily list
// and today's stories, and a relay that answers each message after
// delay. Under -short it skips the test.
func binarySend(t *testing.T, members int, delay time.Duration) (bin string, c *cli, emails []string, srv *smtptest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin = buildBinary(t)
	c = newSendingCLI(t)
	emails = c.addMany(members)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	srv = smtptest.Start(t, func(s *smtptest.Server) { s.Delay = delay })
	return bin, c, emails, srv
}

// TestMain removes the binary the crash tests built.
func TestMain(m *testing.M) { storetest.Main(m) }

// startSend runs `digest send` as a subprocess.
func (c *cli) startSend(t *testing.T, bin, url string, args ...string) (*exec.Cmd, *strings.Builder, *strings.Builder) {
	cmd := exec.Command(bin, append([]string{"send"}, args...)...)
	cmd.Env = append(os.Environ(), "DIGEST_DB="+c.env["DIGEST_DB"], "DIGEST_BASE_URL="+c.env["DIGEST_BASE_URL"], "DIGEST_SMTP_URL="+url)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

// waitAccepted polls until the server accepted at least n messages.
func waitAccepted(t *testing.T, srv *smtptest.Server, n int) {
	t.Helper()
	storetest.WaitUntil(t, fmt.Sprintf("the send to reach %d messages", n), func() bool { return srv.Accepted() >= n },
		func() string { return fmt.Sprintf("the server has %d", srv.Accepted()) })
}

func TestCrashMidSendResendsAtMostOnePerConnection(t *testing.T) {
	bin, c, emails, srv := binarySend(t, 400, 3*time.Millisecond)

	cmd, _, _ := c.startSend(t, bin, srv.URL(), "--concurrency", "4")
	waitAccepted(t, srv, 80)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	before := srv.Accepted()
	if before >= len(emails) {
		t.Fatal("the send finished before it was killed: nothing was tested")
	}
	counts := c.ledgerCounts()
	t.Logf("killed after %d accepted messages; ledger %v", before, counts)
	if counts["sent"] > before || counts["sent"] < before-4 {
		t.Errorf("ledger has %d sent, server accepted %d: at most the 4 in flight may be missing", counts["sent"], before)
	}

	cmd, stdout, stderr := c.startSend(t, bin, srv.URL(), "--concurrency", "4")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resume: %v\n%s%s", err, stdout, stderr)
	}
	per := srv.PerRecipient()
	dup := 0
	for _, e := range emails {
		switch n := per[e]; {
		case n == 0:
			t.Errorf("%s never got the edition", e)
		case n > 1:
			dup += n - 1
		}
	}
	if dup > 4 {
		t.Errorf("%d messages sent twice; at most one per connection (4) may be", dup)
	}
	t.Logf("after resume: %d messages for %d recipients, %d sent twice", srv.Accepted(), len(emails), dup)
	if counts := c.ledgerCounts(); counts["sent"] != len(emails) {
		t.Errorf("ledger after resume: %v", counts)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	bin, c, emails, srv := binarySend(t, 300, 3*time.Millisecond)

	cmd, stdout, stderr := c.startSend(t, bin, srv.URL())
	waitAccepted(t, srv, 50)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %d (%v), stderr %q", code, err, stderr)
	}
	if !strings.Contains(stdout.String(), "sent ") {
		t.Errorf("no summary after SIGTERM: %q", stdout)
	}
	// Graceful: every accepted message is in the ledger, nothing is in
	// flight, so the resume sends nobody twice.
	if counts := c.ledgerCounts(); counts["sent"] != srv.Accepted() {
		t.Fatalf("ledger %v, server accepted %d", counts, srv.Accepted())
	}
	cmd, stdout, stderr = c.startSend(t, bin, srv.URL())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resume: %v\n%s%s", err, stdout, stderr)
	}
	per := srv.PerRecipient()
	for _, e := range emails {
		if per[e] != 1 {
			t.Errorf("%s got %d messages", e, per[e])
		}
	}
}

func TestDeliveriesCommand(t *testing.T) {
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("subscribers", "add", "bad@example.com")
	c.must("subscribers", "add", "slow@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.RcptHook = func(to string) error {
			switch to {
			case "bad@example.com":
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			case "slow@example.com":
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
			}
			return nil
		}
	})
	out, errs, code := c.run("send", "--smtp", srv.URL())
	// Exit 3: the run finished, but not everyone has the edition.
	if code != 3 || !strings.Contains(out, "sent 1, already sent 0, deferred 1, failed 1, unknown 0") {
		t.Fatalf("send: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "--retry-deferred") || !strings.Contains(errs, "failed bad@example.com: 550") {
		t.Errorf("send does not explain the deferred and failed ones:\n%s\n%s", out, errs)
	}

	out = c.must("deliveries")
	for _, want := range []string{"EDITION", "ada@example.com", "sent", "bad@example.com", "failed", "550 5.1.1 No such user", "slow@example.com", "deferred", "3 deliveries: 1 sent, 1 deferred, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("deliveries lacks %q:\n%s", want, out)
		}
	}
	out = c.must("deliveries", "--status", "deferred", "--list", "daily")
	if !strings.Contains(out, "slow@example.com") || strings.Contains(out, "ada@example.com") {
		t.Errorf("--status deferred:\n%s", out)
	}
	var rows []struct {
		EditionID     int64      `json:"edition_id"`
		Email         string     `json:"email"`
		Status        string     `json:"status"`
		Attempts      int        `json:"attempts"`
		LastCode      int        `json:"last_code"`
		NextAttemptAt *time.Time `json:"next_attempt_at"`
	}
	out = c.must("deliveries", "--json", "--status", "failed")
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].Email != "bad@example.com" || rows[0].LastCode != 550 {
		t.Fatalf("--json --status failed: %v %+v\n%s", err, rows, out)
	}
	out = c.must("deliveries", "--json", "--edition", fmt.Sprint(rows[0].EditionID), "--status", "deferred")
	rows = nil
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].NextAttemptAt == nil || rows[0].Attempts < 1 {
		t.Fatalf("deferred row: %v %+v", err, rows)
	}
	if out := c.must("deliveries", "--json", "--status", "queued"); strings.TrimSpace(out) != "[]" {
		t.Errorf("no queued rows, want [] got %q", out)
	}

	// --retry-deferred takes the deferred one up again once the server
	// accepts it; a plain send leaves it alone.
	srv.SetRcptHook(func(to string) error {
		if to == "bad@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	out, _, code = c.run("send", "--smtp", srv.URL())
	if code != 3 || !strings.Contains(out, "sent 0, already sent 1") || !strings.Contains(out, "1 deferred in an earlier run") {
		t.Errorf("plain resend: exit %d, %s", code, out)
	}
	out, _, code = c.run("send", "--smtp", srv.URL(), "--retry-deferred")
	if code != 3 || !strings.Contains(out, "sent 1, already sent 1, deferred 0") {
		t.Errorf("--retry-deferred (bad@ still failed): exit %d, %s", code, out)
	}
	if n := srv.PerRecipient()["slow@example.com"]; n != 1 {
		t.Errorf("slow@example.com got %d messages", n)
	}
}

func TestSendAndDeliveriesBadInput(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deliveries", "--status", "lost"}, 2, "not one of queued, sent, deferred, failed"},
		{[]string{"deliveries", "--edition", "0"}, 2, "not an edition id"},
		{[]string{"deliveries", "--edition", "99"}, 1, "no edition 99"},
		{[]string{"deliveries", "--list", "nope"}, 1, "unknown list"},
		{[]string{"send", "--concurrency", "0"}, 2, "concurrency 0 is out of range"},
		{[]string{"send", "--concurrency", "many"}, 2, `--concurrency "many" is not a whole number`},
		{[]string{"send", "--rate", "-1"}, 2, "rate -1 is negative"},
		{[]string{"send", "--max-per-hour", "-5"}, 2, "max per hour -5 is negative"},
	}
	for _, tt := range tests {
		_, errs, code := c.run(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) || !strings.HasPrefix(errs, "digest: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
	c.env["DIGEST_CONCURRENCY"] = "lots"
	if _, errs, code := c.run("send"); code != 2 || !strings.Contains(errs, `concurrency "lots" is not a whole number`) {
		t.Errorf("DIGEST_CONCURRENCY=lots: exit %d, %q", code, errs)
	}
	delete(c.env, "DIGEST_CONCURRENCY")
	c.env["DIGEST_DKIM_KEY_FILE"] = filepath.Join(c.dir, "missing.pem")
	c.env["DIGEST_DKIM_SELECTOR"] = "news"
	c.must("subscribers", "add", "ada@example.com")
	if _, errs, code := c.run("send", "--force"); code != 1 || !strings.Contains(errs, "dkim key file") {
		t.Errorf("missing DKIM key: exit %d, %q", code, errs)
	}
}

func TestProgressLinesWithoutTerminal(t *testing.T) {
	c := newSendingCLI(t)
	c.addMany(20)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	srv := smtptest.Start(t, nil)
	out, errs, code := c.run("send", "--smtp", srv.URL(), "--concurrency", "2")
	if code != 0 || !strings.Contains(out, "sent 20,") || !strings.Contains(out, "msg/s") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "progress: 20/20 (100%) sent 20, deferred 0, failed 0") {
		t.Errorf("no plain progress lines on a non-terminal stderr:\n%s", errs)
	}
	if srv.Sessions() != 2 {
		t.Errorf("%d SMTP sessions, want 2 (--concurrency 2)", srv.Sessions())
	}
}
