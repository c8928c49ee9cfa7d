package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// standardParser reads the five-field schedules lists store (minute hour
// day-of-month month day-of-week) and descriptors such as @daily.
var standardParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// secondsParser adds a leading seconds field; tests use it to fire within
// seconds instead of minutes.
var secondsParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a list's cron schedule in its time zone. Its Next differs
// from robfig/cron's in one place, the spring-forward gap: a fire time
// that does not exist on that day (02:30 when clocks jump from 02:00 to
// 03:00) fires once, at the first instant after the gap, instead of not
// at all. A daily digest should not silently skip a day a year. Fire
// times in the autumn's repeated hour come twice from Next; the
// scheduler sends one edition per local date, so the second does nothing.
type Schedule struct {
	spec *cron.SpecSchedule
	loc  *time.Location
}

// ParseSchedule checks a list's schedule and time zone. expr is a cron
// expression (five fields, or six with seconds when withSeconds is set)
// or a descriptor like @daily; zone an IANA name like Europe/Berlin.
func ParseSchedule(expr, zone string, withSeconds bool) (Schedule, error) {
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || strings.EqualFold(zone, "local") {
		return Schedule{}, fmt.Errorf("time zone %q is not an IANA zone name like Europe/Berlin or UTC", zone)
	}
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return Schedule{}, errors.New("empty schedule: give a cron expression like \"0 6 * * *\"")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return Schedule{}, fmt.Errorf("schedule %q names a time zone: set the list's time zone instead", expr)
	case strings.HasPrefix(expr, "@every"):
		return Schedule{}, fmt.Errorf("schedule %q is an interval: give clock times like \"0 6 * * *\"", expr)
	}
	p := standardParser
	if withSeconds {
		p = secondsParser
	}
	parsed, err := parse(p, expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q is not a five-field cron expression like \"0 6 * * *\": %v", expr, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, fmt.Errorf("schedule %q is not a clock-time schedule", expr)
	}
	s := *spec
	s.Location = loc
	return Schedule{spec: &s, loc: loc}, nil
}

// parse shields against robfig/cron panicking on some malformed input.
func parse(p cron.Parser, expr string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return p.Parse(expr)
}

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }

// Next returns the first fire time after t (see Schedule for the gap).
func (s Schedule) Next(t time.Time) time.Time {
	n := s.spec.Next(t)
	limit := n
	if limit.IsZero() {
		limit = t.AddDate(5, 0, 0)
	}
	if g := s.gapFire(t, limit); !g.IsZero() && (n.IsZero() || g.Before(n)) {
		return g.In(t.Location())
	}
	return n
}

// gapFire returns the first forward time-zone transition in (t, limit]
// whose skipped wall-clock times include one the spec matches, or zero.
func (s Schedule) gapFire(t, limit time.Time) time.Time {
	cur := t.In(s.loc)
	for i := 0; i < 64; i++ {
		_, end := cur.ZoneBounds()
		if end.IsZero() || end.After(limit) {
			return time.Time{}
		}
		_, before := end.Add(-time.Second).Zone()
		_, after := end.Zone()
		if after > before && end.After(t) && s.matchesGap(end, time.Duration(after-before)*time.Second, before) {
			return end
		}
		cur = end
	}
	return time.Time{}
}

// matchesGap reports whether any wall-clock time skipped at the transition
// instant at (clocks moved forward by width, from UTC offset oldOffset)
// matches the spec.
func (s Schedule) matchesGap(at time.Time, width time.Duration, oldOffset int) bool {
	// The wall clock just before the jump, read in the old offset.
	start := at.In(time.FixedZone("", oldOffset))
	step := time.Minute
	if s.spec.Second != 1 { // seconds other than :00 matter
		step = time.Second
	}
	for w := start; w.Before(start.Add(width)); w = w.Add(step) {
		if s.matchesWall(w) {
			return true
		}
	}
	return false
}

const starBit = 1 << 63

// matchesWall applies the spec to a wall-clock time (its fields only).
func (s Schedule) matchesWall(w time.Time) bool {
	sp := s.spec
	has := func(bits uint64, v int) bool { return bits&(1<<uint(v)) != 0 }
	if !has(sp.Second, w.Second()) || !has(sp.Minute, w.Minute()) || !has(sp.Hour, w.Hour()) || !has(sp.Month, int(w.Month())) {
		return false
	}
	dom, dow := has(sp.Dom, w.Day()), has(sp.Dow, int(w.Weekday()))
	// As in cron: with either day field a star, both must match;
	// otherwise either may.
	if sp.Dom&starBit != 0 || sp.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// Latest returns the last fire time at or before now that is no more than
// lookback old, or zero when there is none. It widens its search window
// from one minute by doubling, so a per-second schedule costs a few dozen
// steps and a daily one a dozen.
func (s Schedule) Latest(now time.Time, lookback time.Duration) time.Time {
	for w := time.Minute; ; w *= 2 {
		if w > lookback {
			w = lookback
		}
		f := s.Next(now.Add(-w).Add(-time.Second))
		if !f.IsZero() && !f.After(now) {
			for {
				g := s.Next(f)
				if g.IsZero() || g.After(now) {
					return f
				}
				f = g
			}
		}
		if w == lookback {
			return time.Time{}
		}
	}
}
