package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

// sendBinary runs the real `digest send` to the end and returns its exit
// code and output.
func (c *cli) sendBinary(t *testing.T, bin, url string, args ...string) (int, string, string) {
	t.Helper()
	cmd, stdout, stderr := c.startSend(t, bin, url, args...)
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// countCopies returns how many of emails the server never got and how
// many extra copies it got.
func countCopies(srv *smtptest.Server, emails []string) (missing, duplicates int) {
	per := srv.PerRecipient()
	for _, e := range emails {
		switch n := per[e]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates += n - 1
		}
	}
	return missing, duplicates
}

func TestSendExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	stories := func(c *cli) { c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now()))) }

	t.Run("0 when everyone was reached", func(t *testing.T) {
		c := newSendingCLI(t)
		emails := c.addMany(20)
		stories(c)
		srv := smtptest.Start(t, nil)
		code, out, errs := c.sendBinary(t, bin, srv.URL())
		missing, dup := countCopies(srv, emails)
		if code != 0 || missing != 0 || dup != 0 || c.ledgerCounts()["sent"] != 20 {
			t.Fatalf("exit %d, missing %d, duplicates %d, ledger %v\n%s%s", code, missing, dup, c.ledgerCounts(), out, errs)
		}
	})

	t.Run("3 when 100 dead addresses in a row failed and the rest went out", func(t *testing.T) {
		c := newSendingCLI(t)
		emails := c.addMany(150)
		stories(c)
		dead := map[string]bool{}
		for _, e := range emails[:100] {
			dead[e] = true
		}
		srv := smtptest.Start(t, func(s *smtptest.Server) { s.Faults = smtptest.Faults{Reject550: dead} })
		code, out, errs := c.sendBinary(t, bin, srv.URL())
		if code != 3 || !strings.Contains(out, "sent 50, already sent 0, deferred 0, failed 100") || !strings.Contains(out, "--retry-failed") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if !strings.Contains(errs, "digest: 100 of 150 recipients do not have edition 1 yet") {
			t.Errorf("stderr does not say how many were not reached:\n%s", errs)
		}
		missing, dup := countCopies(srv, emails[100:])
		if counts := c.ledgerCounts(); missing != 0 || dup != 0 || srv.Accepted() != 50 || counts["sent"] != 50 || counts["failed"] != 100 {
			t.Fatalf("missing %d, duplicates %d, server %d, ledger %v", missing, dup, srv.Accepted(), counts)
		}
		// A rerun sends nothing and still says not everyone has it.
		if code, out, _ := c.sendBinary(t, bin, srv.URL()); code != 3 || srv.Accepted() != 50 || !strings.Contains(out, "100 failed in an earlier run") {
			t.Fatalf("rerun: exit %d, server %d\n%s", code, srv.Accepted(), out)
		}
	})

	t.Run("3 and unknown when the final reply comes too late; --retry-unknown sends again", func(t *testing.T) {
		c := newSendingCLI(t)
		emails := c.addMany(5)
		stories(c)
		var slow atomic.Bool
		slow.Store(true)
		srv := smtptest.Start(t, func(s *smtptest.Server) {
			s.DataHook = func(smtptest.Message) error {
				if slow.Load() {
					time.Sleep(600 * time.Millisecond)
				}
				return nil
			}
		})
		url := srv.URL() + "&timeout=200ms"
		code, out, errs := c.sendBinary(t, bin, url)
		if code != 3 || !strings.Contains(out, "unknown 5") || !strings.Contains(out, "digest send --retry-unknown") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		waitAccepted(t, srv, 5)
		if missing, dup := countCopies(srv, emails); missing != 0 || dup != 0 || c.ledgerCounts()["unknown"] != 5 {
			t.Fatalf("missing %d, duplicates %d, ledger %v", missing, dup, c.ledgerCounts())
		}
		if out := c.must("deliveries", "--status", "unknown"); !strings.Contains(out, "5 deliveries: 5 unknown") || !strings.Contains(out, "no reply to the end of data within 200ms") {
			t.Errorf("deliveries --status unknown:\n%s", out)
		}
		slow.Store(false)
		if code, out, _ := c.sendBinary(t, bin, url); code != 3 || srv.Accepted() != 5 || !strings.Contains(out, "5 of unknown outcome in an earlier run") {
			t.Fatalf("plain rerun: exit %d, server %d (a rerun must not resend)\n%s", code, srv.Accepted(), out)
		}
		if code, out, errs := c.sendBinary(t, bin, url, "--retry-unknown"); code != 0 || srv.Accepted() != 10 || c.ledgerCounts()["sent"] != 5 {
			t.Fatalf("--retry-unknown: exit %d, server %d, ledger %v\n%s%s", code, srv.Accepted(), c.ledgerCounts(), out, errs)
		}
	})

	t.Run("1 when the relay requires authentication", func(t *testing.T) {
		c := newSendingCLI(t)
		c.addMany(30)
		stories(c)
		srv := smtptest.Start(t, func(s *smtptest.Server) { s.Username, s.Password = "digest", "s3cret" })
		code, out, errs := c.sendBinary(t, bin, srv.URL())
		if code != 1 || !strings.Contains(errs, "requires authentication") || !strings.Contains(errs, "530 5.7.0") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if counts := c.ledgerCounts(); counts["failed"] != 0 || counts["sent"] != 0 || counts["deferred"] != 0 || srv.Accepted() != 0 {
			t.Fatalf("ledger %v, server %d: nobody may be marked", counts, srv.Accepted())
		}
	})

	t.Run("2 on usage", func(t *testing.T) {
		c := newCLI(t)
		if code, _, errs := c.sendBinary(t, bin, "smtp://127.0.0.1:1?tls=none", "--retry-unknow"); code != 2 || !strings.HasPrefix(errs, "digest: ") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
}

func TestLongNamesAreCappedWhereTheyEnter(t *testing.T) {
	c := newCLI(t)
	long := strings.Repeat("n", 5000)
	c.must("subscribers", "add", "ada@example.com", "--name", long)
	c.must("subscribers", "import", c.writeFile("s.csv", fmt.Sprintf("email,name\nbob@example.com,%s\n", long)))
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		out := c.must("subscribers", "show", email)
		if !strings.Contains(out, strings.Repeat("n", 256)) || strings.Contains(out, strings.Repeat("n", 257)) {
			t.Errorf("%s: name not capped at 256 characters:\n%.400s", email, out)
		}
	}
}
