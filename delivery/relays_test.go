package delivery_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/smtptest"
)

// relay describes srv as a relay of a pool.
func relay(t *testing.T, srv *smtptest.Server, weight, conns int, role string) delivery.Relay {
	t.Helper()
	cfg, err := delivery.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Relay{SMTP: cfg, Weight: weight, Connections: conns, Role: role}
}

// poolSender sends through a pool of relays, with short waits.
func (f *fixture) poolSender(t *testing.T, relays ...delivery.Relay) *delivery.Sender {
	t.Helper()
	p, err := delivery.NewPool(relays)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := f.sender(t, "smtp://127.0.0.1:1?tls=none")
	s.Transport = p
	s.LedgerSync = delivery.LedgerSyncNormal
	return s
}

// relayOf reads the relay the ledger recorded per email.
func (f *fixture) relayOf(editionID int64) map[string]string {
	f.t.Helper()
	rows, err := f.db.QueryContext(f.ctx, `SELECT s.email, d.relay FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
		WHERE d.edition_id = ?`, editionID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var e, r string
		if err := rows.Scan(&e, &r); err != nil {
			f.t.Fatal(err)
		}
		out[e] = r
	}
	return out
}

// checkOncePerRecipient asserts that every subscriber got exactly one
// message over all the servers, is recorded sent, and that the ledger
// names the relay that took it.
func checkOncePerRecipient(t *testing.T, f *fixture, editionID int64, servers map[string]*smtptest.Server) {
	t.Helper()
	ledger := f.ledger(editionID)
	relays := f.relayOf(editionID)
	got := map[string]map[string]int{}
	for name, srv := range servers {
		got[name] = srv.PerRecipient()
	}
	bad := 0
	for _, e := range f.emails {
		total, via := 0, ""
		for name := range servers {
			if n := got[name][e]; n > 0 {
				total += n
				via = name
			}
		}
		if total != 1 || ledger[e].status != delivery.StatusSent || relays[e] != via {
			t.Errorf("%s: %d copies (last via %s), ledger %s via %q; want 1, sent, the same relay", e, total, via, ledger[e].status, relays[e])
			if bad++; bad > 10 {
				t.Fatal("too many errors")
			}
		}
	}
}

func nameOf(t *testing.T, srv *smtptest.Server) string {
	t.Helper()
	return relay(t, srv, 1, 1, "").Name()
}

func TestRelaysShareByWeightAndLedgerNamesEach(t *testing.T) {
	const n = 3000
	f := newFixture(t, n)
	f.addStories(6, 100)
	ed := f.edition("2026-11-28")
	var srvs []*smtptest.Server
	var relays []delivery.Relay
	servers := map[string]*smtptest.Server{}
	for w := 1; w <= 3; w++ {
		srv := smtptest.Start(t, func(s *smtptest.Server) { s.Discard = true })
		srvs = append(srvs, srv)
		relays = append(relays, relay(t, srv, w, 2, delivery.RolePrimary))
		servers[nameOf(t, srv)] = srv
	}
	sum, err := f.poolSender(t, relays...).Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != n {
		t.Fatalf("send: %+v, %v", sum, err)
	}
	for i, srv := range srvs {
		want := n * (i + 1) / 6
		if got := srv.Accepted(); got < want*97/100 || got > want*103/100 {
			t.Errorf("relay of weight %d took %d, want %d ± 3%%", i+1, got, want)
		}
		if s := sum.Relays[i]; s.Name != nameOf(t, srv) || s.Sent != srv.Accepted() {
			t.Errorf("summary of relay %d: %+v, server accepted %d", i+1, s, srv.Accepted())
		}
	}
	checkOncePerRecipient(t, f, ed.ID, servers)
	counts, err := delivery.CountByRelay(f.ctx, f.db, delivery.Filter{EditionID: ed.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if srv := servers[c.Relay]; srv == nil || c.Status != delivery.StatusSent || c.Count != srv.Accepted() {
			t.Errorf("CountByRelay row %+v does not match the servers", c)
		}
	}
	if len(counts) != 3 {
		t.Errorf("CountByRelay: %d rows, want 3: %+v", len(counts), counts)
	}
}

func TestRelayKilledMidRunTheOthersDeliverEveryoneOnce(t *testing.T) {
	f := newFixture(t, 600)
	f.addStories(6, 100)
	ed := f.edition("2026-11-28")
	a := smtptest.Start(t, nil)
	c := smtptest.Start(t, nil)
	var mails atomic.Int64
	var b *smtptest.Server
	b = smtptest.Start(t, func(s *smtptest.Server) {
		// One connection, killed at a MAIL command: no message of it is
		// in flight, so none can end unknown.
		s.MailHook = func(string) error {
			if mails.Add(1) == 60 {
				go b.Close()
				return smtptest.ErrDrop
			}
			if mails.Load() > 60 {
				return smtptest.ErrDrop
			}
			return nil
		}
	})
	s := f.poolSender(t, relay(t, a, 1, 2, ""), relay(t, b, 1, 1, ""), relay(t, c, 1, 2, ""))
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 600 || sum.Unknown != 0 {
		t.Fatalf("send: %+v, %v", sum, err)
	}
	checkOncePerRecipient(t, f, ed.ID, map[string]*smtptest.Server{nameOf(t, a): a, nameOf(t, b): b, nameOf(t, c): c})
	if rb := sum.Relays[1]; rb.Rested == 0 || rb.Sent != b.Accepted() || b.Accepted() == 0 || b.Accepted() >= 200 {
		t.Errorf("killed relay: summary %+v, it accepted %d before dying; want it rested after some", rb, b.Accepted())
	}
}

func TestRelayAnswering421IsRestedAndRetried(t *testing.T) {
	f := newFixture(t, 300)
	f.addStories(6, 100)
	ed := f.edition("2026-11-28")
	var refused atomic.Int64
	a := smtptest.Start(t, func(s *smtptest.Server) {
		s.MailHook = func(string) error {
			if refused.Add(1) <= 2 {
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "too busy, closing"}
			}
			return nil
		}
	})
	// The backup is slow, so the run outlasts the primary's short rest.
	backup := smtptest.Start(t, func(s *smtptest.Server) { s.Faults.Slow = 2 * time.Millisecond })
	s := f.poolSender(t, relay(t, a, 1, 2, ""), relay(t, backup, 1, 1, delivery.RoleBackup))
	s.RelayRest = 20 * time.Millisecond
	var downs, ups atomic.Int64
	s.OnRelay = func(name string, up bool) {
		if name != nameOf(t, a) {
			if !up {
				t.Errorf("OnRelay(%s, false): only the primary went down", name)
			}
			return
		}
		if up {
			ups.Add(1)
		} else {
			downs.Add(1)
		}
	}
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != 300 {
		t.Fatalf("send: %+v, %v", sum, err)
	}
	checkOncePerRecipient(t, f, ed.ID, map[string]*smtptest.Server{nameOf(t, a): a, nameOf(t, backup): backup})
	ra := sum.Relays[0]
	if ra.Rested == 0 || ra.Rerouted == 0 || a.Accepted() == 0 || ra.Sent != a.Accepted() {
		t.Errorf("primary: %+v, accepted %d; want rested, its recipients rerouted, then used again", ra, a.Accepted())
	}
	if downs.Load() == 0 || ups.Load() < 2 {
		t.Errorf("OnRelay heard %d downs and %d ups of the primary; want up at the start, down, and up again", downs.Load(), ups.Load())
	}
	// The 421 replies were never recorded against anyone.
	for e, r := range f.ledger(ed.ID) {
		if r.code == 421 {
			t.Errorf("%s: ledger kept the relay's 421 (%s)", e, r.reply)
		}
	}
}

func TestBackupsOnlyWhileNoPrimaryWorks(t *testing.T) {
	f := newFixture(t, 200)
	f.addStories(6, 100)
	a, b, backup := smtptest.Start(t, nil), smtptest.Start(t, nil), smtptest.Start(t, nil)
	s := f.poolSender(t, relay(t, a, 1, 2, ""), relay(t, b, 1, 2, ""), relay(t, backup, 5, 2, delivery.RoleBackup))
	ed := f.edition("2026-11-28")
	if sum, err := s.Send(f.ctx, ed, f.list); err != nil || sum.Sent != 200 {
		t.Fatalf("send: %+v, %v", sum, err)
	}
	if backup.Accepted() != 0 || a.Accepted()+b.Accepted() != 200 {
		t.Errorf("primaries up: primaries took %d+%d, the backup %d; want all on the primaries", a.Accepted(), b.Accepted(), backup.Accepted())
	}
	// Both primaries die: the next edition goes through the backup.
	a.Close()
	b.Close()
	ed2 := f.edition("2026-11-29")
	sum, err := s.Send(f.ctx, ed2, f.list)
	if err != nil || sum.Sent != 200 {
		t.Fatalf("send with primaries down: %+v, %v", sum, err)
	}
	if backup.Accepted() != 200 || !sum.Relays[2].Backup || sum.Relays[2].Sent != 200 {
		t.Errorf("primaries down: backup took %d, summary %+v; want all 200", backup.Accepted(), sum.Relays[2])
	}
	for e, r := range f.relayOf(ed2.ID) {
		if r != nameOf(t, backup) {
			t.Errorf("%s recorded via %s, want the backup", e, r)
		}
	}
}

func TestUnknownOutcomeIsNotResentThroughAnotherRelay(t *testing.T) {
	f := newFixture(t, 40)
	f.addStories(6, 100)
	ed := f.edition("2026-11-28")
	// The stalling relay takes every message but answers the final "."
	// only long after the sender stopped waiting.
	stall := smtptest.Start(t, func(s *smtptest.Server) {
		s.DataHook = func(smtptest.Message) error { time.Sleep(300 * time.Millisecond); return nil }
	})
	good := smtptest.Start(t, nil)
	rs := relay(t, stall, 1, 2, "")
	rs.SMTP.FinalTimeout = 50 * time.Millisecond
	s := f.poolSender(t, rs, relay(t, good, 1, 2, ""))
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Unknown == 0 || sum.Sent+sum.Unknown != 40 {
		t.Fatalf("send: %+v, %v; want some unknown, the rest sent", sum, err)
	}
	ledger, relays, onGood := f.ledger(ed.ID), f.relayOf(ed.ID), good.PerRecipient()
	unknown := 0
	for _, e := range f.emails {
		if ledger[e].status != delivery.StatusUnknown {
			continue
		}
		unknown++
		if relays[e] != nameOf(t, stall) || onGood[e] != 0 {
			t.Errorf("%s: unknown via %q, the other relay got %d copies; want via the stalling relay, no copy elsewhere", e, relays[e], onGood[e])
		}
	}
	if unknown != sum.Unknown || sum.Relays[0].Unknown != unknown {
		t.Errorf("ledger has %d unknown, summary %d (relay %+v)", unknown, sum.Unknown, sum.Relays[0])
	}
	// A rerun sends them nothing, through either relay.
	before := good.Accepted()
	again, err := s.Send(f.ctx, ed, f.list)
	if err != nil || again.Sent != 0 || again.UnknownBefore != unknown || good.Accepted() != before {
		t.Fatalf("rerun: %+v, %v", again, err)
	}
	if !strings.Contains(ledger[firstUnknown(f, ledger)].reply, "may have accepted") {
		t.Errorf("unknown reply does not explain itself: %q", ledger[firstUnknown(f, ledger)].reply)
	}
}

func firstUnknown(f *fixture, ledger map[string]row) string {
	for _, e := range f.emails {
		if ledger[e].status == delivery.StatusUnknown {
			return e
		}
	}
	return ""
}
