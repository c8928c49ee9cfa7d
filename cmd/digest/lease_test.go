package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

var busyLine = regexp.MustCompile(`^digest: edition \d+ of daily is being sent by pid \d+ on host \S+ since \d\d:\d\d:\d\d; run send again after it ends\n$`)

// checkOnce asserts, counting on the server, that each address got
// exactly one message and the ledger says sent for all of them.
func checkOnce(t *testing.T, c *cli, srv *smtptest.Server, emails []string) {
	t.Helper()
	per := srv.PerRecipient()
	missing, dup := 0, 0
	for _, e := range emails {
		switch n := per[e]; {
		case n == 0:
			missing++
		case n > 1:
			dup += n - 1
		}
	}
	if missing != 0 || dup != 0 || srv.Accepted() != len(emails) {
		t.Errorf("%d recipients missing, %d duplicates, %d messages for %d recipients", missing, dup, srv.Accepted(), len(emails))
	}
	if counts := c.ledgerCounts(); counts["sent"] != len(emails) || len(counts) != 1 {
		t.Errorf("ledger %v, want %d sent", counts, len(emails))
	}
}

// Two digest send processes of the same list: started at the same
// instant (both --wait), and a second one started while the first
// sends (without --wait: exit 1 and one line naming the holder; with
// --wait: it waits and sends nothing twice).
func TestTwoSendsDeliverEachRecipientOnce(t *testing.T) {
	bin, c, emails, srv := binarySend(t, 300, 2*time.Millisecond)

	a, aout, aerr := c.startSend(t, bin, srv.URL(), "--wait")
	b, bout, berr := c.startSend(t, bin, srv.URL(), "--wait")
	waitAccepted(t, srv, 20)
	late, lout, lerr := c.startSend(t, bin, srv.URL())
	lateErr := late.Wait()
	if code := late.ProcessState.ExitCode(); code != 1 || !busyLine.MatchString(lerr.String()) {
		t.Errorf("a send during a send: exit %d (%v)\nstderr %q\nstdout %q", code, lateErr, lerr, lout)
	}
	for _, p := range []struct {
		name     string
		out, err *strings.Builder
		wait     func() error
	}{{"first", aout, aerr, a.Wait}, {"second", bout, berr, b.Wait}} {
		if err := p.wait(); err != nil {
			t.Errorf("%s send: %v\n%s%s", p.name, err, p.out, p.err)
		}
		if strings.Contains(p.err.String(), "UNIQUE") {
			t.Errorf("%s send: %s", p.name, p.err)
		}
	}
	checkOnce(t, c, srv, emails)
	// A plain rerun finds nobody left.
	cmd, out, errs := c.startSend(t, bin, srv.URL())
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "sent 0, already sent 300") {
		t.Errorf("rerun: %v\n%s%s", err, out, errs)
	}
	checkOnce(t, c, srv, emails)
}

// digest send while digest serve delivers the list's scheduled run: send
// exits 1 naming the daemon; send --wait waits; nobody gets two copies.
func TestSendNextToServeDeliversEachRecipientOnce(t *testing.T) {
	bin, c, emails, srv := binarySend(t, 200, 5*time.Millisecond)
	// A schedule that fired a minute ago: the daemon catches it up at start.
	zone := "UTC"
	if h := time.Now().UTC().Hour(); h == 0 || h == 23 {
		zone = "Etc/GMT-6"
	}
	loc, _ := time.LoadLocation(zone)
	fire := time.Now().In(loc).Add(-time.Minute)
	c.must("lists", "update", "daily", "--schedule", fmt.Sprintf("%d %d * * *", fire.Minute(), fire.Hour()), "--tz", zone)

	d := startDaemon(t, bin, c, srv.URL())
	waitAccepted(t, srv, 20)
	now, nout, nerr := c.startSend(t, bin, srv.URL())
	nowErr := now.Wait()
	if code := now.ProcessState.ExitCode(); code != 1 || !busyLine.MatchString(nerr.String()) {
		t.Errorf("send during serve: exit %d (%v)\nstderr %q\nstdout %q", code, nowErr, nerr, nout)
	}
	if srv.Accepted() >= len(emails) {
		t.Fatal("the scheduled run ended before the sends: the test proves nothing")
	}
	w, wout, werr := c.startSend(t, bin, srv.URL(), "--wait")
	if err := w.Wait(); err != nil || !strings.Contains(werr.String(), "waiting: ") {
		t.Errorf("send --wait during serve: %v\n%s%s", err, wout, werr)
	}
	d.stop()
	checkOnce(t, c, srv, emails)
}
