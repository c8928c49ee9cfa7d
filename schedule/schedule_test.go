package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		expr, zone string
		seconds    bool
		err        string
	}{
		{"0 6 * * *", "UTC", false, ""},
		{"30 7 * * 1-5", "Europe/Berlin", false, ""},
		{"@daily", "Asia/Dubai", false, ""},
		{"0 6 * * *", "", false, ""},
		{"5 0 6 * * *", "UTC", true, ""},
		{"61 6 * * *", "UTC", false, "not a five-field cron expression"},
		{"0 6 * *", "UTC", false, "not a five-field cron expression"},
		{"0 6 * * * *", "UTC", false, "not a five-field cron expression"},
		{"", "UTC", false, "empty schedule"},
		{"0 6 * * *", "Mars/Base", false, "not an IANA zone name"},
		{"0 6 * * *", "Local", false, "depends on the machine"},
		{"TZ=UTC", "UTC", false, "names a time zone"},
		{"CRON_TZ=Europe/Paris 0 6 * * *", "UTC", false, "names a time zone"},
		{"@every 1h", "UTC", false, "is an interval"},
		{"@every 5m", "UTC", false, "one edition per local date"},
		{strings.Repeat("1,", 60) + "0 6 * * *", "UTC", false, "characters long"},
	}
	for _, tt := range tests {
		_, err := parseFor(tt.expr, tt.zone, tt.seconds)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q in %q: %v", tt.expr, tt.zone, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q in %q: error %v, want one containing %q", tt.expr, tt.zone, err, tt.err)
		}
	}
}

func parseFor(expr, zone string, seconds bool) (Schedule, error) {
	if seconds {
		return ParseWithSeconds(expr, zone)
	}
	return Parse(expr, zone)
}

func TestNormalize(t *testing.T) {
	if got, err := Normalize("  30  7 * *   1-5 "); err != nil || got != "30 7 * * 1-5" {
		t.Errorf("Normalize: %q, %v; want \"30 7 * * 1-5\"", got, err)
	}
	// What the CLI stores is what the daemon parses: the same refusals.
	for _, expr := range []string{"@every 5m", "0 0 6 * * *", "TZ=UTC 0 6 * * *", ""} {
		if _, err := Normalize(expr); err == nil {
			t.Errorf("Normalize(%q) accepted a schedule the daemon refuses", expr)
		}
	}
}

func TestNextKeepsTheListZone(t *testing.T) {
	s, err := Parse("0 6 * * *", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Next(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next 06:00 Berlin: %s, want %s", got.UTC(), want)
	}
}

// A time in the spring-forward gap fires once, at the end of the gap, and
// on the next day at its usual time again.
func TestSpringGapFiresOnce(t *testing.T) {
	tests := []struct {
		zone, expr string
		from       time.Time
		want       []time.Time
	}{
		// 14 March 2027, New York: 02:00 EST jumps to 03:00 EDT.
		{"America/New_York", "30 2 * * *", time.Date(2027, 3, 13, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC),  // 03:00 EDT
			time.Date(2027, 3, 15, 6, 30, 0, 0, time.UTC), // 02:30 EDT
		}},
		// 28 March 2027, Berlin: 02:00 CET jumps to 03:00 CEST. Every
		// quarter hour in the gap comes down to one fire.
		{"Europe/Berlin", "*/15 2 * * *", time.Date(2027, 3, 28, 0, 50, 0, 0, time.UTC), []time.Time{
			time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC), // 03:00 CEST
			time.Date(2027, 3, 29, 0, 0, 0, 0, time.UTC), // 02:00 CEST
		}},
		// A time outside the gap is not moved.
		{"America/New_York", "30 3 * * *", time.Date(2027, 3, 13, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2027, 3, 14, 7, 30, 0, 0, time.UTC),
			time.Date(2027, 3, 15, 7, 30, 0, 0, time.UTC),
		}},
		// A weekday schedule does not fire in a gap on another weekday.
		{"America/New_York", "30 2 * * 1", time.Date(2027, 3, 13, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2027, 3, 15, 6, 30, 0, 0, time.UTC),
		}},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.expr, tt.zone)
		checkSteps(t, fmt.Sprintf("%s %q fire", tt.zone, tt.expr), s.Next, tt.from, tt.want)
	}
}

func mustParse(t *testing.T, expr, zone string) Schedule {
	t.Helper()
	s, err := Parse(expr, zone)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSteps applies step from from, once per wanted time.
func checkSteps(t *testing.T, what string, step func(time.Time) time.Time, from time.Time, want []time.Time) {
	t.Helper()
	at := from
	for i, w := range want {
		if at = step(at); !at.Equal(w) {
			t.Errorf("%s %d: %s, want %s", what, i+1, at.UTC(), w)
			return
		}
	}
}

func TestLatest(t *testing.T) {
	daily, _ := Parse("0 6 * * *", "UTC")
	everySecond, _ := ParseWithSeconds("* * * * * *", "UTC")
	now := time.Date(2026, 11, 27, 9, 15, 30, 500, time.UTC)
	tests := []struct {
		name     string
		s        Schedule
		now      time.Time
		lookback time.Duration
		want     time.Time
	}{
		{"daily, earlier today", daily, now, 27 * time.Hour, time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)},
		{"daily, at the fire", daily, time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), 27 * time.Hour, time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)},
		{"daily, before today's fire", daily, time.Date(2026, 11, 27, 5, 59, 59, 0, time.UTC), 27 * time.Hour, time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)},
		{"daily, beyond the lookback", daily, now, time.Hour, time.Time{}},
		{"every second", everySecond, now, time.Hour, time.Date(2026, 11, 27, 9, 15, 30, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := tt.s.Latest(tt.now, tt.lookback); !got.Equal(tt.want) {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// NextEdition is the first fire of a local date: later fires on a date
// already served send nothing, so they are never the next run.
func TestNextEdition(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	tests := []struct {
		name, zone, expr string
		from             time.Time
		want             []time.Time
	}{
		{"twice a day sends at the first", "UTC", "0 6,18 * * *", utc(2026, 11, 27, 5, 0), []time.Time{
			utc(2026, 11, 27, 6, 0), utc(2026, 11, 28, 6, 0), utc(2026, 11, 29, 6, 0),
		}},
		{"between the two fires of a date", "UTC", "0 6,18 * * *", utc(2026, 11, 27, 12, 0), []time.Time{
			utc(2026, 11, 28, 6, 0),
		}},
		{"every minute", "UTC", "* * * * *", utc(2026, 11, 27, 12, 0), []time.Time{
			utc(2026, 11, 28, 0, 0), utc(2026, 11, 29, 0, 0),
		}},
		// 7 November 2027, New York: 01:30 comes twice (EDT, then EST);
		// the second is not an edition.
		{"autumn repeated hour", "America/New_York", "30 1 * * *", utc(2027, 11, 6, 12, 0), []time.Time{
			utc(2027, 11, 7, 5, 30), // 01:30 EDT
			utc(2027, 11, 8, 6, 30), // 01:30 EST the next day
		}},
		{"inside the repeated hour", "America/New_York", "30 1 * * *", utc(2027, 11, 7, 5, 45), []time.Time{
			utc(2027, 11, 8, 6, 30),
		}},
		// 14 March 2027, New York: 02:30 does not exist; 03:00 EDT sends.
		{"spring gap", "America/New_York", "30 2 * * *", utc(2027, 3, 13, 12, 0), []time.Time{
			utc(2027, 3, 14, 7, 0), utc(2027, 3, 15, 6, 30),
		}},
		// Berlin, 28 March 2027, twice a day across the jump.
		{"twice a day over the spring gap", "Europe/Berlin", "30 2,20 * * *", utc(2027, 3, 27, 12, 0), []time.Time{
			utc(2027, 3, 28, 1, 0),  // 03:00 CEST, the gap's fire
			utc(2027, 3, 29, 0, 30), // 02:30 CEST
		}},
		{"never", "UTC", "0 6 31 2 *", utc(2026, 1, 1, 0, 0), []time.Time{{}}},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.expr, tt.zone)
		checkSteps(t, tt.name+": edition", s.NextEdition, tt.from, tt.want)
	}
}
