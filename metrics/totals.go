package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Totals are figures kept in the database, read at each scrape, so that
// they count every process (manual digest send runs too) and survive
// restarts. Maps are keyed by the label value.
type Totals struct {
	ManualSends     map[string]int64 // by list
	ManualSent      map[string]int64 // messages accepted by manual runs, by list
	ManualUnknown   map[string]int64 // messages of unknown outcome in manual runs, by list
	Bounces         map[string]int64 // by kind: hard, soft
	Complaints      int64
	Unsubscribes    int64 // every method, as recorded after the send
	Suppressions    int64
	Clicks          int64
	WebhookFailures map[string]int64 // by provider
}

var (
	descManualSends = prometheus.NewDesc("digest_manual_sends_total", "digest send runs (not scheduled), from the database.", []string{"list"}, nil)
	descManualSent  = prometheus.NewDesc("digest_manual_messages_sent_total", "Messages accepted by digest send runs, from the database.", []string{"list"}, nil)
	descManualUnk   = prometheus.NewDesc("digest_manual_messages_unknown_total", "Messages of unknown outcome (sent, no final reply) in digest send runs, from the database.", []string{"list"}, nil)
	descBounces     = prometheus.NewDesc("digest_bounces_total", "Bounces processed (mailbox, pipe, webhooks) by kind.", []string{"kind"}, nil)
	descComplaints  = prometheus.NewDesc("digest_complaints_total", "Spam complaints processed.", nil, nil)
	descUnsubs      = prometheus.NewDesc("digest_feedback_unsubscribes_total", "Unsubscribes recorded for the edition report (one-click, link, mail, complaint).", nil, nil)
	descSuppress    = prometheus.NewDesc("digest_suppressions", "Addresses on the suppression list.", nil, nil)
	descClicks      = prometheus.NewDesc("digest_clicks_total", "Story link clicks counted (aggregate, no reader).", nil, nil)
	descWebhookFail = prometheus.NewDesc("digest_webhook_failures_total", "Webhook requests refused or failed, by provider.", []string{"provider"}, nil)
)

// totalsCollector reports Totals read by its function at each scrape.
type totalsCollector struct {
	mu   sync.Mutex
	read func() (Totals, error)
}

func (c *totalsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descManualSends, descManualSent, descManualUnk, descBounces, descComplaints, descUnsubs, descSuppress, descClicks, descWebhookFail} {
		ch <- d
	}
}

func (c *totalsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	t, err := read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descManualSends, err)
		return
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for l, v := range t.ManualSends {
		counter(descManualSends, v, l)
	}
	for l, v := range t.ManualSent {
		counter(descManualSent, v, l)
	}
	for l, v := range t.ManualUnknown {
		counter(descManualUnk, v, l)
	}
	for _, k := range []string{"hard", "soft"} {
		counter(descBounces, t.Bounces[k], k)
	}
	counter(descComplaints, t.Complaints)
	counter(descUnsubs, t.Unsubscribes)
	ch <- prometheus.MustNewConstMetric(descSuppress, prometheus.GaugeValue, float64(t.Suppressions))
	counter(descClicks, t.Clicks)
	for l, v := range t.WebhookFailures {
		counter(descWebhookFail, v, l)
	}
}

// ReadTotals makes /metrics show the figures read returns, at each
// scrape.
func (m *Metrics) ReadTotals(read func() (Totals, error)) {
	m.totals.mu.Lock()
	m.totals.read = read
	m.totals.mu.Unlock()
}
