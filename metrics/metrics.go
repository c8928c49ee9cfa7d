// Package metrics defines the Prometheus metrics of the daemon (digest
// serve), all named digest_*, on a registry of their own so that /metrics
// shows exactly these plus the Go runtime and process collectors.
//
// It is a leaf: it takes plain counts and imports none of the engine, so
// the subscriber-facing web package that serves /metrics does not link the
// SMTP client (TestLeafImports keeps it so).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the daemon's collectors. The zero value is not usable;
// call New.
type Metrics struct {
	Registry *prometheus.Registry

	// EditionsBuilt counts editions composed and stored by scheduled runs.
	EditionsBuilt *prometheus.CounterVec
	// MessagesSent, MessagesDeferred, MessagesFailed and MessagesUnknown
	// count delivery outcomes of scheduled runs; unknown is a message
	// whose data was sent but the relay did not answer (it may have
	// delivered it).
	MessagesSent, MessagesDeferred, MessagesFailed, MessagesUnknown *prometheus.CounterVec
	// SendDuration observes how long each delivery run took.
	SendDuration *prometheus.HistogramVec
	// LastSuccess is the Unix time of each list's last scheduled run
	// that ended without error (sent, or nothing new to send): alert when
	// it falls more than a day behind.
	LastSuccess *prometheus.GaugeVec
	// Runs counts scheduled runs by outcome.
	Runs *prometheus.CounterVec
	// Leader is 1 while this process holds the sending lease.
	Leader prometheus.Gauge
	// Unsubscribes counts memberships ended through unsubscribe links.
	Unsubscribes prometheus.Counter
	// Resubscribes counts memberships restored from the unsubscribe page.
	Resubscribes prometheus.Counter
	// RelayMessages counts delivery outcomes per relay (host:port) and
	// outcome (sent, deferred, failed, unknown).
	RelayMessages *prometheus.CounterVec
	// RelayUp is 1 while a relay takes mail, 0 while it rests after
	// failing as a whole.
	RelayUp *prometheus.GaugeVec

	totals *totalsCollector
}

// New creates the metrics on a fresh registry.
func New() *Metrics {
	byList := []string{"list"}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EditionsBuilt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_editions_built_total", Help: "Editions composed and stored by scheduled runs.",
		}, byList),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_sent_total", Help: "Messages the SMTP server (or outbox) accepted.",
		}, byList),
		MessagesDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_deferred_total", Help: "Messages left for a later attempt after a temporary failure.",
		}, byList),
		MessagesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_failed_total", Help: "Messages refused permanently.",
		}, byList),
		MessagesUnknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_unknown_total", Help: "Messages sent whose final reply never came: the relay may have delivered them.",
		}, byList),
		SendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "digest_send_duration_seconds",
			Help:    "Duration of each scheduled delivery run.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5 s to about 2.3 h
		}, byList),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "digest_last_success_timestamp_seconds",
			Help: "Unix time of the list's last scheduled run that ended without error.",
		}, byList),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_scheduled_runs_total", Help: "Scheduled runs by outcome (sent, nothing_new, skipped, interrupted, failed).",
		}, []string{"list", "outcome"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "digest_scheduler_leader", Help: "1 while this process holds the sending lease, 0 on standby.",
		}),
		Unsubscribes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "digest_unsubscribes_total", Help: "Memberships ended through unsubscribe links.",
		}),
		Resubscribes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "digest_resubscribes_total", Help: "Memberships restored from the unsubscribe page.",
		}),
		RelayMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_relay_messages_total", Help: "Delivery outcomes per SMTP relay (host:port) and outcome.",
		}, []string{"relay", "outcome"}),
		RelayUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "digest_relay_up", Help: "1 while the SMTP relay takes mail, 0 while it rests after failing as a whole.",
		}, []string{"relay"}),
	}
	m.totals = &totalsCollector{}
	m.Registry.MustRegister(
		m.totals,
		m.EditionsBuilt, m.MessagesSent, m.MessagesDeferred, m.MessagesFailed, m.MessagesUnknown,
		m.SendDuration, m.LastSuccess, m.Runs, m.Leader, m.Unsubscribes, m.Resubscribes, m.RelayMessages, m.RelayUp,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// InitList makes the list's series exist at zero, so that dashboards and
// rate() see a list before its first run.
func (m *Metrics) InitList(list string) {
	m.EditionsBuilt.WithLabelValues(list)
	m.MessagesSent.WithLabelValues(list)
	m.MessagesDeferred.WithLabelValues(list)
	m.MessagesFailed.WithLabelValues(list)
	m.MessagesUnknown.WithLabelValues(list)
}

// Delivered adds one delivery run of the list: the messages it sent,
// deferred, failed and left of unknown outcome, and how long it took.
func (m *Metrics) Delivered(list string, sent, deferred, failed, unknown int, took time.Duration) {
	m.MessagesSent.WithLabelValues(list).Add(float64(sent))
	m.MessagesDeferred.WithLabelValues(list).Add(float64(deferred))
	m.MessagesFailed.WithLabelValues(list).Add(float64(failed))
	m.MessagesUnknown.WithLabelValues(list).Add(float64(unknown))
	m.SendDuration.WithLabelValues(list).Observe(took.Seconds())
}

// RelayDelivered adds one run's outcomes through one relay.
func (m *Metrics) RelayDelivered(relay string, sent, deferred, failed, unknown int) {
	for outcome, n := range map[string]int{"sent": sent, "deferred": deferred, "failed": failed, "unknown": unknown} {
		m.RelayMessages.WithLabelValues(relay, outcome).Add(float64(n))
	}
}

// SetRelayUp sets the relay's gauge: up while it takes mail.
func (m *Metrics) SetRelayUp(relay string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.RelayUp.WithLabelValues(relay).Set(v)
}

// Succeeded records a run of the list that ended without error at t.
func (m *Metrics) Succeeded(list string, t time.Time) {
	m.LastSuccess.WithLabelValues(list).Set(float64(t.Unix()))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
