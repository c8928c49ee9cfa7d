package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/wneessen/go-mail"
)

// Relay roles: primaries share the messages by weight; backups are used
// only while no primary works.
const (
	RolePrimary = "primary"
	RoleBackup  = "backup"
)

// Relay is one SMTP relay of a Pool, as a [[relay]] table of digest.toml
// describes it.
type Relay struct {
	SMTP SMTPConfig
	// Weight is the relay's share among relays of its role (default 1):
	// weights 1 and 3 send a quarter and three quarters.
	Weight int
	// Connections is how many connections the relay gets (0: the
	// Sender's Concurrency).
	Connections int
	// Rate and MaxPerHour cap this relay alone, beside the Sender's caps
	// for the whole run; 0 is no cap.
	Rate       float64
	MaxPerHour int
	// Role is RolePrimary (the default) or RoleBackup.
	Role string
}

// Name is how the ledger, the summary and /metrics name the relay: its
// host and port, which carry no secret.
func (r Relay) Name() string { return net.JoinHostPort(r.SMTP.Host, strconv.Itoa(r.SMTP.Port)) }

// Pool is a set of relays. As a Transport (send --test) it sends through
// the first relay that takes the message, primaries first; the delivery
// engine spreads a run over all of them (see Sender).
type Pool struct {
	relays []Relay
	smtp   []*SMTP
	mu     sync.Mutex
}

// NewPool prepares clients for every relay; it does not connect yet. Two
// relays with the same host and port are one relay listed twice: refused,
// since the ledger could not tell them apart.
func NewPool(relays []Relay) (*Pool, error) {
	if len(relays) == 0 {
		return nil, errors.New("no relay: give at least one [[relay]] table or --smtp URL")
	}
	p := &Pool{}
	seen := map[string]bool{}
	primaries := 0
	for i, r := range relays {
		if r.Weight <= 0 {
			r.Weight = 1
		}
		switch r.Role {
		case "":
			r.Role = RolePrimary
		case RolePrimary, RoleBackup:
		default:
			return nil, fmt.Errorf("relay %s: role %q is not %s or %s", r.SMTP, r.Role, RolePrimary, RoleBackup)
		}
		if r.Role == RolePrimary {
			primaries++
		}
		if seen[r.Name()] {
			return nil, fmt.Errorf("relay %s is listed twice: give each relay once, with a weight", r.Name())
		}
		seen[r.Name()] = true
		t, err := NewSMTP(r.SMTP)
		if err != nil {
			return nil, fmt.Errorf("relay %d: %w", i+1, err)
		}
		p.relays = append(p.relays, r)
		p.smtp = append(p.smtp, t)
	}
	if primaries == 0 {
		return nil, errors.New("every relay is a backup: give at least one relay role = \"primary\"")
	}
	return p, nil
}

// Relays returns the pool's relays with their defaults applied.
func (p *Pool) Relays() []Relay { return append([]Relay(nil), p.relays...) }

// String names the relays, without secrets.
func (p *Pool) String() string {
	names := make([]string, len(p.relays))
	for i, r := range p.relays {
		names[i] = r.SMTP.String()
		if r.Role == RoleBackup {
			names[i] += " (backup)"
		} else if len(p.relays) > 1 {
			names[i] += fmt.Sprintf(" (weight %d)", r.Weight)
		}
	}
	return strings.Join(names, ", ")
}

// Send hands m to the first relay, primaries before backups, that can be
// reached; a relay that answered anything else is not tried further.
func (p *Pool) Send(ctx context.Context, key string, m *mail.Msg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	for _, role := range []string{RolePrimary, RoleBackup} {
		for i, r := range p.relays {
			if r.Role != role {
				continue
			}
			if err = p.smtp[i].Send(ctx, key, m); err == nil || !unreachable(err) {
				return err
			}
		}
	}
	return err
}

// Close ends every relay's session.
func (p *Pool) Close() error {
	for _, t := range p.smtp {
		t.Close()
	}
	return nil
}

// unreachable reports an error that says the relay could not be reached
// or refused the session, so another relay may be tried.
func unreachable(err error) bool {
	var de *DeliveryError
	return errors.Is(err, ErrConnect) || errors.As(err, &de) && de.Stage == stageConnect
}
