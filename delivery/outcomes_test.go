package delivery_test

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/subscribers"
)

// waitForServer polls until the server has accepted n messages: a relay
// that answers late still takes the message after the client gave up.
func waitForServer(t *testing.T, srv *smtptest.Server, n int) {
	t.Helper()
	storetest.WaitUntil(t, fmt.Sprintf("the server to accept %d messages", n), func() bool { return srv.Accepted() >= n },
		func() string { return fmt.Sprintf("it accepted %d", srv.Accepted()) })
}

// statuses counts the edition's ledger rows by status.
func (f *fixture) statuses(editionID int64) map[string]int {
	out := map[string]int{}
	for _, r := range f.ledger(editionID) {
		out[r.status]++
	}
	return out
}

func TestSlowFinalReplyIsUnknownAndNeverResentUnasked(t *testing.T) {
	f := newFixture(t, 6)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	var slow atomic.Bool
	slow.Store(true)
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.DataHook = func(smtptest.Message) error {
			if slow.Load() {
				time.Sleep(600 * time.Millisecond) // past the client's timeout=200ms
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL()+"&timeout=200ms")
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Unknown != 6 || sum.Sent != 0 || sum.Deferred != 0 || sum.Retries != 0 {
		t.Fatalf("first run: %+v, %v; want 6 unknown, no retry", sum, err)
	}
	waitForServer(t, srv, 6)
	per := srv.PerRecipient()
	for e, r := range f.ledger(ed.ID) {
		if per[e] != 1 || r.status != delivery.StatusUnknown || r.attempts != 1 || !strings.Contains(r.reply, "no reply to the end of data within 200ms") {
			t.Errorf("%s: server got %d, ledger %+v; want 1 copy and unknown", e, per[e], r)
		}
	}

	// A plain rerun sends nothing: the relay may have the messages.
	slow.Store(false)
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 0 || sum.UnknownBefore != 6 || srv.Accepted() != 6 {
		t.Fatalf("rerun: %+v, %v, server %d; want nothing sent", sum, err, srv.Accepted())
	}
	if got := f.statuses(ed.ID); got[delivery.StatusUnknown] != 6 {
		t.Fatalf("ledger after rerun %v", got)
	}

	// --retry-unknown sends them again, on purpose.
	s.RetryUnknown = true
	sum, err = s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 6 {
		t.Fatalf("--retry-unknown: %+v, %v", sum, err)
	}
	per = srv.PerRecipient()
	for e, r := range f.ledger(ed.ID) {
		if per[e] != 2 || r.status != delivery.StatusSent {
			t.Errorf("%s: server got %d, ledger %s; want the deliberate second copy and sent", e, per[e], r.status)
		}
	}
}

func TestFinalReplyWaitDefaultsToTenMinutes(t *testing.T) {
	cfg, err := delivery.ParseSMTPURL("smtp://relay.example.com")
	if err != nil || cfg.FinalTimeout != 10*time.Minute || cfg.Timeout != 30*time.Second {
		t.Fatalf("%+v, %v: want 10m for the final reply, 30s for the rest", cfg, err)
	}
	cfg, err = delivery.ParseSMTPURL("smtp://relay.example.com?timeout=3s")
	if err != nil || cfg.FinalTimeout != 3*time.Second || cfg.Timeout != 3*time.Second {
		t.Fatalf("%+v, %v: timeout= sets both", cfg, err)
	}
}

func TestHundredDeadAddressesInARowDoNotStopTheRun(t *testing.T) {
	f := newFixture(t, 150)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	dead := map[string]bool{}
	for i := 1; i <= 100; i++ {
		dead[fmt.Sprintf("sub%05d@example.org", i)] = true
	}
	srv := smtptest.Start(t, func(s *smtptest.Server) { s.Faults = smtptest.Faults{Reject550: dead} })
	s := f.sender(t, srv.URL())
	s.Concurrency = 1 // strictly in a row
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil {
		t.Fatalf("the run stopped: %v (%+v)", err, sum)
	}
	if sum.Failed != 100 || sum.Sent != 50 {
		t.Fatalf("summary %+v, want 100 failed and 50 sent", sum)
	}
	checkExactlyOnce(t, f, srv, ed.ID, dead, 550)
}

func TestRelayAnswering530StopsAtOnceAndFailsNobody(t *testing.T) {
	f := newFixture(t, 40)
	f.addStories(3, 100)
	ed := f.edition("2026-11-28")
	var mails atomic.Int32
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.Username, s.Password = "digest", "s3cret"
		s.MailHook = func(string) error { mails.Add(1); return nil }
	})
	// No credentials in the URL: the relay answers MAIL FROM with 530.
	sum, err := f.sender(t, srv.URL()).Send(f.ctx, ed, f.list)
	if !errors.Is(err, delivery.ErrConnect) || !strings.Contains(err.Error(), "530 5.7.0") || !strings.Contains(err.Error(), "add user:password to the SMTP URL") {
		t.Fatalf("err %v, want the run stopped naming the 530 and the fix", err)
	}
	got := f.statuses(ed.ID)
	if sum.Failed != 0 || sum.Sent != 0 || got[delivery.StatusFailed] != 0 || got[delivery.StatusDeferred] != 0 || got[delivery.StatusSent] != 0 {
		t.Fatalf("summary %+v, ledger %v: nobody may be marked", sum, got)
	}
	if got[delivery.StatusQueued] == 0 {
		t.Fatalf("ledger %v: the recipients taken up stay queued", got)
	}
	if srv.Accepted() != 0 {
		t.Fatalf("server accepted %d", srv.Accepted())
	}
	// The fixed URL sends to everyone, once.
	sum, err = f.sender(t, "smtp://digest:s3cret@"+srv.Addr+"?tls=none&auth=plain").Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 40 {
		t.Fatalf("after the fix: %+v, %v", sum, err)
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
}

func TestFiveThousandCharacterNameIsSendable(t *testing.T) {
	f := newFixture(t, 3)
	f.addStories(3, 100)
	long := strings.Repeat("x", 5000)
	spaced := strings.Repeat("Ünïcode name ", 400)
	// Names stored before the cap (or written by other tools) reach the
	// message uncut: the message caps them too.
	for email, name := range map[string]string{"sub00001@example.org": long, "sub00002@example.org": spaced} {
		if _, err := f.db.Exec(`UPDATE subscribers SET name = ? WHERE email = ?`, name, email); err != nil {
			t.Fatal(err)
		}
	}
	srv := smtptest.Start(t, func(s *smtptest.Server) { s.LineLimit = 998 })
	ed := f.edition("2026-11-28")
	sum, err := f.sender(t, srv.URL()).Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 3 || srv.Injected()[554] != 0 {
		t.Fatalf("%+v, %v, refusals %v", sum, err, srv.Injected())
	}
	checkExactlyOnce(t, f, srv, ed.ID, nil, 0)
	want := map[string]string{
		"sub00001@example.org": long[:subscribers.MaxNameLength],
		"sub00002@example.org": subscribers.CleanName(spaced),
		"sub00003@example.org": "Reader 3",
	}
	for _, m := range srv.Messages() {
		head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			if (strings.EqualFold(name, "To") || strings.EqualFold(name, "Subject") || strings.HasPrefix(line, " ")) && len(line) > 78 {
				t.Errorf("%s: header line of %d characters: %.90q", m.To[0], len(line), line)
			}
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != m.To[0] || to[0].Name != want[m.To[0]] {
			t.Errorf("%s: To decodes to %v (%v), want name %.40q... (%d characters)", m.To[0], to, err, want[m.To[0]], len([]rune(want[m.To[0]])))
		}
		if got := len([]rune(to[0].Name)); got > subscribers.MaxNameLength {
			t.Errorf("%s: name of %d characters", m.To[0], got)
		}
	}
}
