package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/lease"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// One sender per list: every run (digest send, a scheduled run of digest
// serve) holds the list's send lease while it builds and delivers the
// edition, so two processes never hand the same queued recipient to a
// relay. The lease is renewed every third of its TTL; a holder killed on
// this host is taken over at once, one on another host once the TTL has
// passed since its last renewal.

// SendLeaseName is the name of the lease that guards a list's sending.
func SendLeaseName(listID int64) string { return fmt.Sprintf("send/list/%d", listID) }

// LeaseNote is what a send lease says it covers: the edition, or, before
// it is built, the list and date it is being built for.
func LeaseNote(ed digest.Edition, list subscribers.List) string {
	switch {
	case ed.ID != 0:
		return fmt.Sprintf("edition %d of %s", ed.ID, list.Name)
	case ed.Date != "":
		return fmt.Sprintf("%s%s for %s", unbuilt, list.Name, ed.Date)
	}
	return "list " + list.Name
}

// unbuilt begins the note of a lease whose edition is not built yet.
const unbuilt = "the edition of "

// LeaseBusyError reports that another process is sending the list.
type LeaseBusyError struct {
	Holder lease.Info
	At     time.Time
}

func (e *LeaseBusyError) Error() string {
	verb := "is being sent"
	if strings.HasPrefix(e.Holder.Note, unbuilt) {
		verb = "is being built and sent"
	}
	return fmt.Sprintf("%s %s by %s since %s; run send again after it ends",
		e.Holder.Note, verb, e.Holder.Who(), e.Holder.SinceText(e.At))
}

// HoldList takes the list's send lease for what note says. When another
// process holds it, HoldList returns a *LeaseBusyError, or with wait set
// calls onWait (when not nil) and waits until the lease is free. The
// held lease's context ends when the lease is lost.
func HoldList(ctx context.Context, db *store.DB, list subscribers.List, note string, ttl time.Duration, wait bool, onWait func(error)) (*lease.Held, error) {
	l := lease.New(db, SendLeaseName(list.ID), ttl)
	l.Note = note
	h, err := lease.Hold(ctx, l, wait, func(i lease.Info) {
		if onWait != nil {
			onWait(&LeaseBusyError{Holder: i, At: time.Now()})
		}
	})
	var busy *lease.BusyError
	if errors.As(err, &busy) {
		if busy.Note == "" {
			busy.Note = "list " + list.Name
		}
		return nil, &LeaseBusyError{Holder: busy.Info, At: busy.At}
	}
	return h, err
}

// holdLease is the run's send lease: the one the caller holds already
// (Sender.Lease, now naming the edition), or one taken here.
func (s *Sender) holdLease(ctx context.Context, ed digest.Edition, list subscribers.List) (held *lease.Held, release func(), err error) {
	note := LeaseNote(ed, list)
	if s.Lease != nil {
		if err := s.Lease.Lease().SetNote(ctx, note); err != nil {
			return nil, nil, err
		}
		return s.Lease, func() {}, nil
	}
	h, err := HoldList(ctx, s.DB, list, note, s.LeaseTTL, s.WaitLease, s.OnLeaseWait)
	if err != nil {
		return nil, nil, err
	}
	return h, func() { h.Release() }, nil
}

// applyJournal writes the one-click unsubscribes digest serve journalled
// while the database was busy, so that the run does not send to them.
// When it cannot (still busy), the run goes on: the requests stay in the
// journal, and serve writes them within seconds.
func (s *Sender) applyJournal(ctx context.Context) {
	if s.DB.Path == "" {
		return
	}
	subs := &subscribers.Store{DB: s.DB, Now: s.Now}
	if n, err := subs.ApplyJournal(ctx, &subscribers.Journal{Path: subscribers.JournalPath(s.DB.Path)}); err != nil {
		s.logf("journalled unsubscribes not written yet: %v", err)
	} else if n > 0 {
		s.logf("%d journalled unsubscribes written before sending", n)
	}
}
