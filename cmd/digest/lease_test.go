package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/lease"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
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

// A send while another process holds the list's lease names what that
// process is doing, in the contract's words: before it has built the
// edition, the list and date it builds for; after, the edition number.
// Nothing is built or sent by the refused send.
func TestSendWhileLeaseHeldNamesTheEditionOrTheDate(t *testing.T) {
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	ctx := context.Background()
	db, err := store.Open(ctx, c.env["DIGEST_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list, err := (&subscribers.Store{DB: db}).GetList(ctx, "daily")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	day := time.Now().In(list.Location()).Format(digest.DateLayout)
	hold := func(ed digest.Edition) *lease.Held {
		t.Helper()
		h, err := delivery.HoldList(ctx, db, list, delivery.LeaseNote(ed, list), 0, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	since := `since \d\d:\d\d:\d\d; run send again after it ends\n$`
	who := fmt.Sprintf("pid %d on host %s ", os.Getpid(), regexp.QuoteMeta(host))

	h := hold(digest.Edition{Date: day})
	_, errs, code := c.run("send")
	h.Release()
	want := regexp.MustCompile(`^digest: the edition of daily for ` + day + ` is being built and sent by ` + who + since)
	if code != 1 || !want.MatchString(errs) {
		t.Errorf("send while the edition is being built: exit %d, stderr %q; want 1 and %s", code, errs, want)
	}
	if out := c.must("editions", "list"); strings.Contains(out, day) {
		t.Errorf("the refused send built an edition:\n%s", out)
	}

	c.must("send")
	ed, err := (&digest.Editions{DB: db}).Get(ctx, list, day)
	if err != nil {
		t.Fatal(err)
	}
	h = hold(ed)
	_, errs, code = c.run("send")
	h.Release()
	want = regexp.MustCompile(fmt.Sprintf(`^digest: edition %d of daily is being sent by `, ed.ID) + who + since)
	if code != 1 || !want.MatchString(errs) {
		t.Errorf("send while the edition is being sent: exit %d, stderr %q; want 1 and %s", code, errs, want)
	}
}
