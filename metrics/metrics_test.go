package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/metrics"
)

func TestRelayCountersAndUpGauge(t *testing.T) {
	m := metrics.New()
	m.RelayDelivered("mx1.example.com:25", 1500, 2, 1, 1)
	m.RelayDelivered("mx1.example.com:25", 10, 0, 0, 0)
	m.SetRelayUp("mx1.example.com:25", true)
	m.SetRelayUp("mx2.example.com:25", false)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`digest_relay_messages_total{outcome="sent",relay="mx1.example.com:25"} 1510`,
		`digest_relay_messages_total{outcome="unknown",relay="mx1.example.com:25"} 1`,
		`digest_relay_up{relay="mx1.example.com:25"} 1`,
		`digest_relay_up{relay="mx2.example.com:25"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestDeliveredCountsUnknown(t *testing.T) {
	m := metrics.New()
	m.InitList("weekly")
	m.Delivered("daily", 7, 1, 0, 2, time.Second)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`digest_messages_unknown_total{list="daily"} 2`, `digest_messages_sent_total{list="daily"} 7`, `digest_messages_unknown_total{list="weekly"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
