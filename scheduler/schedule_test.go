package scheduler

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
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
		{"0 6 * * *", "Local", false, "not an IANA zone name"},
		{"TZ=UTC", "UTC", false, "names a time zone"},
		{"CRON_TZ=Europe/Paris 0 6 * * *", "UTC", false, "names a time zone"},
		{"@every 1h", "UTC", false, "is an interval"},
	}
	for _, tt := range tests {
		_, err := ParseSchedule(tt.expr, tt.zone, tt.seconds)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q in %q: %v", tt.expr, tt.zone, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q in %q: error %v, want one containing %q", tt.expr, tt.zone, err, tt.err)
		}
	}
}

func TestNextKeepsTheListZone(t *testing.T) {
	s, err := ParseSchedule("0 6 * * *", "Europe/Berlin", false)
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
		s, err := ParseSchedule(tt.expr, tt.zone, false)
		if err != nil {
			t.Fatal(err)
		}
		at := tt.from
		for i, want := range tt.want {
			at = s.Next(at)
			if !at.Equal(want) {
				t.Errorf("%s %q fire %d: %s, want %s", tt.zone, tt.expr, i+1, at.UTC(), want)
				break
			}
		}
	}
}

func TestLatest(t *testing.T) {
	daily, _ := ParseSchedule("0 6 * * *", "UTC", false)
	everySecond, _ := ParseSchedule("* * * * * *", "UTC", true)
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
