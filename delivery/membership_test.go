package delivery_test

import (
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/smtptest"
)

// Erasing the person whose message is on the wire, and erasing or
// unsubscribing people further down the list, during a send: the run
// goes on to the end, the people who left before their message was
// handed over get nothing, and a plain rerun sends no duplicates.
func TestMembershipChangesMidSend(t *testing.T) {
	f := newFixture(t, 40)
	f.addStories(5, 80)
	ed := f.edition("2026-11-27")
	onWire, erasedLater, unsubscribed := f.emails[5], f.emails[30], f.emails[31]
	var hookErr error
	srv := smtptest.Start(t, func(s *smtptest.Server) {
		s.DataHook = func(m smtptest.Message) error {
			if strings.EqualFold(m.To[0], onWire) {
				for _, e := range []string{onWire, erasedLater} {
					if _, err := f.subs.Remove(f.ctx, e); err != nil {
						hookErr = err
					}
				}
				if _, err := f.subs.Unsubscribe(f.ctx, unsubscribed, ""); err != nil {
					hookErr = err
				}
			}
			return nil
		}
	})
	s := f.sender(t, srv.URL())
	s.Concurrency = 1 // the changes land while the run is at the 6th recipient
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || hookErr != nil {
		t.Fatalf("send: %v (changes: %v)", err, hookErr)
	}
	if sum.Left != 2 {
		t.Errorf("summary says %d left during the run, want 2", sum.Left)
	}
	again, err := s.Send(f.ctx, ed, f.list)
	if err != nil || again.Sent != 0 {
		t.Fatalf("rerun sent %d: %v", again.Sent, err)
	}
	per := srv.PerRecipient()
	ledger := f.ledger(ed.ID)
	for _, e := range f.emails {
		want, status := 1, "sent"
		switch e {
		case erasedLater, unsubscribed:
			want, status = 0, ""
		case onWire:
			status = "" // accepted, but erased: no record of them is kept
		}
		if per[e] != want || ledger[e].status != status {
			t.Errorf("%s: server got %d, ledger %q; want %d and %q", e, per[e], ledger[e].status, want, status)
		}
	}
}
