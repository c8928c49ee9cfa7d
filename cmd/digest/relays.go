package main

import (
	"fmt"
	"strings"

	"github.com/newsroom/digest/delivery"
)

// connections says how many SMTP connections a run opens: concurrency
// for one relay, each relay's connections (default concurrency) for a
// pool.
func connections(t delivery.Transport, concurrency int) string {
	p, ok := t.(*delivery.Pool)
	if !ok {
		return plural(concurrency, "connection")
	}
	n := 0
	for _, r := range p.Relays() {
		if r.Connections > 0 {
			n += r.Connections
		} else {
			n += concurrency
		}
	}
	return plural(n, "connection")
}

// relayLine is the summary's per-relay line of a run through several
// relays: "via a:25 1500 sent, b:25 1500 sent (rested 1 time, 4 handed on)".
func relayLine(relays []delivery.RelaySummary) string {
	if len(relays) < 2 {
		return ""
	}
	parts := make([]string, 0, len(relays))
	for _, r := range relays {
		p := fmt.Sprintf("%s %d sent", r.Name, r.Sent)
		if r.Backup {
			p += " (backup)"
		}
		var extra []string
		for _, c := range []struct {
			n    int
			what string
		}{{r.Deferred, "deferred"}, {r.Failed, "failed"}, {r.Unknown, "unknown"}} {
			if c.n > 0 {
				extra = append(extra, fmt.Sprintf("%d %s", c.n, c.what))
			}
		}
		if r.Rested > 0 {
			extra = append(extra, "rested "+plural(r.Rested, "time"))
		}
		if r.Rerouted > 0 {
			extra = append(extra, fmt.Sprintf("%d handed on", r.Rerouted))
		}
		if len(extra) > 0 {
			p += " (" + strings.Join(extra, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return "via " + strings.Join(parts, "; ")
}

// relayCounts is the deliveries table's closing per-relay line: "by relay:
// a:25 1500 sent; b:25 1499 sent, 1 unknown".
func relayCounts(counts []delivery.RelayCount) string {
	var parts []string
	for i := 0; i < len(counts); {
		j := i
		var st []string
		for ; j < len(counts) && counts[j].Relay == counts[i].Relay; j++ {
			st = append(st, fmt.Sprintf("%d %s", counts[j].Count, counts[j].Status))
		}
		name := counts[i].Relay
		if name == "" {
			name = "(no relay: outbox or before relays were recorded)"
		}
		parts = append(parts, name+" "+strings.Join(st, ", "))
		i = j
	}
	if len(parts) == 0 {
		return ""
	}
	return "by relay: " + strings.Join(parts, "; ")
}
