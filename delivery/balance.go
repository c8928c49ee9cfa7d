package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Relay rest defaults: a relay that failed as a whole is left alone this
// long, doubled for each further failure in a row, at most DefaultRestMax.
const (
	DefaultRelayRest = 60 * time.Second
	DefaultRestMax   = 15 * time.Minute
)

// RelaySummary counts what one relay did in a run.
type RelaySummary struct {
	Name   string `json:"relay"`
	Backup bool   `json:"backup,omitempty"`
	// Sent, Deferred, Failed and Unknown are outcomes whose last attempt
	// went through this relay.
	Sent     int `json:"sent"`
	Deferred int `json:"deferred"`
	Failed   int `json:"failed"`
	Unknown  int `json:"unknown"`
	// Rested counts the times the relay was taken out of the run for a
	// while (it failed to connect, answered 421 or 4xx to the session, or
	// timed out before DATA); Rerouted the recipients it then handed on.
	Rested   int `json:"rested"`
	Rerouted int `json:"rerouted"`
}

// relayState is one relay during a run: its workers' channel, its own
// rate limits, its place in the round robin and its rest. Only the
// dispatcher touches current, restedUntil and streak; the counters are
// written by the ledger goroutine.
type relayState struct {
	name     string
	weight   int
	backup   bool
	sessions []session
	limiters []*rate.Limiter
	work     chan *job

	current     int // smooth weighted round robin
	restedUntil time.Time
	streak      int // failures in a row; the rest grows with it
	up          bool

	sent, deferred, failed, unknown atomic.Int64
	rested, rerouted                int
}

// balancer spreads a run's messages over its relays. With one relay it
// only hands every message to it: a lone relay is never rested, its
// failures are retried per recipient as before.
type balancer struct {
	relays []*relayState
	byName map[string]*relayState
	rest   time.Duration
	// onRelay hears a relay going down (rested) and up again.
	onRelay func(name string, up bool)
}

func newBalancer(relays []*relayState, rest time.Duration, onRelay func(string, bool)) *balancer {
	if rest <= 0 {
		rest = DefaultRelayRest
	}
	b := &balancer{relays: relays, byName: map[string]*relayState{}, rest: rest, onRelay: onRelay}
	for _, r := range relays {
		b.byName[r.name] = r
		r.up = true
		if onRelay != nil && r.name != "" {
			onRelay(r.name, true) // the gauge starts up; preflight may rest it
		}
	}
	return b
}

// pooled reports whether failures of one relay can go to another.
func (b *balancer) pooled() bool { return len(b.relays) > 1 }

// pick chooses the relay for the next message by smooth weighted round
// robin (the nginx algorithm: every relay gains its weight, the richest
// is chosen and pays the total), over the primaries that are not resting,
// or over the backups when none is. It returns nil when every relay
// rests.
func (b *balancer) pick(now time.Time) *relayState {
	for _, backup := range []bool{false, true} {
		total := 0
		var best *relayState
		for _, r := range b.relays {
			if r.backup != backup || !b.usable(r, now) {
				continue
			}
			r.current += r.weight
			total += r.weight
			if best == nil || r.current > best.current {
				best = r
			}
		}
		if best != nil {
			best.current -= total
			return best
		}
	}
	return nil
}

func (b *balancer) usable(r *relayState, now time.Time) bool { return !r.restedUntil.After(now) }

// available reports whether some relay takes messages now.
func (b *balancer) available(now time.Time) bool {
	for _, r := range b.relays {
		if b.usable(r, now) {
			return true
		}
	}
	return false
}

// wake is when the first resting relay comes back.
func (b *balancer) wake() time.Time {
	var t time.Time
	for _, r := range b.relays {
		if t.IsZero() || r.restedUntil.Before(t) {
			t = r.restedUntil
		}
	}
	return t
}

// restRelay takes r out of the run: DefaultRelayRest (or the Sender's
// RelayRest) after its first failure, doubled for each further one in a
// row. Failures of its other connections while it rests do not add up:
// they are the same outage.
func (b *balancer) restRelay(r *relayState, now time.Time) (d time.Duration, fresh bool) {
	if r.restedUntil.After(now) {
		return r.restedUntil.Sub(now), false
	}
	r.streak++
	d = b.rest
	for i := 1; i < r.streak && d < DefaultRestMax; i++ {
		d *= 2
	}
	d = min(d, max(DefaultRestMax, b.rest))
	r.restedUntil = now.Add(d)
	r.rested++
	if r.up {
		r.up = false
		if b.onRelay != nil {
			b.onRelay(r.name, false)
		}
	}
	return d, true
}

// worked records a message the relay took: it is healthy again.
func (b *balancer) worked(r *relayState) {
	r.streak = 0
	if !r.up {
		r.up = true
		if b.onRelay != nil {
			b.onRelay(r.name, true)
		}
	}
}

func (b *balancer) summary() []RelaySummary {
	out := make([]RelaySummary, len(b.relays))
	for i, r := range b.relays {
		out[i] = RelaySummary{Name: r.name, Backup: r.backup, Sent: int(r.sent.Load()), Deferred: int(r.deferred.Load()),
			Failed: int(r.failed.Load()), Unknown: int(r.unknown.Load()), Rested: r.rested, Rerouted: r.rerouted}
	}
	return out
}

// relayDown reports a failure of the relay as a whole rather than of
// one message: it could not be reached or refused the session, answered
// 421, answered 4xx to MAIL FROM, or the connection failed or timed out
// before the end of the data. A pooled run rests such a relay and hands
// the recipient to another. An unknown outcome (no reply after the final
// ".") is never one: the relay may have taken the message.
func relayDown(err error) (*DeliveryError, bool) {
	if errors.Is(err, ErrSessionRefused) {
		return &DeliveryError{Stage: stageConnect, Reply: err.Error(), Temporary: true, ConnLost: true}, true
	}
	var de *DeliveryError
	if !errors.As(err, &de) || de.Unknown {
		return nil, false
	}
	switch {
	case de.Stage == stageConnect, de.Code == 421, de.needsAuth():
		return de, true
	case de.Stage == stageMail && de.Temporary:
		return de, true
	case de.Code == 0 && de.Stage != stageEnd:
		return de, true
	}
	return de, false
}

// relays gives every relay of the transport its sessions: a Pool's relays
// their Connections each (default workers), any other transport one relay
// with workers sessions.
func (s *Sender) relays(workers int) ([]*relayState, error) {
	p, ok := s.Transport.(*Pool)
	if !ok {
		ss, err := s.sessions(workers)
		if err != nil {
			return nil, err
		}
		name := ""
		if t, ok := s.Transport.(*SMTP); ok {
			name = Relay{SMTP: t.cfg}.Name()
		}
		return []*relayState{{name: name, weight: 1, sessions: ss, work: make(chan *job)}}, nil
	}
	var out []*relayState
	for i, r := range p.relays {
		n := r.Connections
		if n <= 0 {
			n = workers
		}
		rs := &relayState{name: r.Name(), weight: r.Weight, backup: r.Role == RoleBackup, work: make(chan *job)}
		for range n {
			ss, err := p.smtp[i].newSession()
			if err != nil {
				return nil, err
			}
			rs.sessions = append(rs.sessions, ss)
		}
		if r.Rate > 0 {
			rs.limiters = append(rs.limiters, rate.NewLimiter(rate.Limit(r.Rate), 1))
		}
		if r.MaxPerHour > 0 {
			rs.limiters = append(rs.limiters, rate.NewLimiter(rate.Limit(float64(r.MaxPerHour)/3600), 1))
		}
		out = append(out, rs)
	}
	return out, nil
}

// preflight opens one session of every relay before anything is queued.
// A lone relay that cannot be reached or refuses the login stops the run;
// in a pool such a relay rests and the run goes on while one works.
func (r *run) preflight(ctx context.Context) error {
	var first error
	ok := 0
	now := time.Now()
	for _, rs := range r.bal.relays {
		ss, isSMTP := rs.sessions[0].(*smtpSession)
		if !isSMTP {
			ok++
			continue
		}
		err := ss.connect(ctx)
		if err == nil {
			ok++
			continue
		}
		if first == nil {
			first = err
		}
		if r.bal.pooled() {
			d, _ := r.bal.restRelay(rs, now)
			r.s.logf("relay %s rests for %s: %v", rs.name, d, err)
		}
	}
	if ok == 0 {
		return first
	}
	return nil
}
