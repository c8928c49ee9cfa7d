// Package schedule is a list's sending schedule: a cron expression read in
// the list's time zone. It is the one definition of what a schedule is,
// shared by the CLI (lists create|update --schedule checks with Parse),
// lists show (the next run is NextEdition) and the daemon (cron fires on
// Next, and an edition is due at the first fire of each local date), so
// that what the CLI accepts is exactly what the daemon runs and the next
// run printed is the one that sends.
//
// A leaf: it imports robfig/cron and the standard library only.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DateLayout is how a local date, the key of one edition, is written.
const DateLayout = "2006-01-02"

// maxExpr bounds an expression: a cron schedule is short, and the text
// ends up in error messages and logs.
const maxExpr = 100

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
// times in the autumn's repeated hour come twice from Next; one edition
// goes out per local date, at the date's first fire (see NextEdition), so
// the second does nothing.
//
// Intervals (@every 5m) are refused: they count from whenever the daemon
// started, so no next run could be printed, and with one edition per date
// they would only ever send at the first fire after midnight anyway.
type Schedule struct {
	spec *cron.SpecSchedule
	loc  *time.Location
}

// Parse checks a five-field cron expression (minute hour day-of-month
// month day-of-week) or a descriptor like @daily, read in zone, an IANA
// name like Europe/Berlin (empty is UTC).
func Parse(expr, zone string) (Schedule, error) { return parse(standardParser, expr, zone) }

// ParseWithSeconds is Parse with a leading seconds field, six fields in
// all; tests use it to fire within seconds.
func ParseWithSeconds(expr, zone string) (Schedule, error) { return parse(secondsParser, expr, zone) }

// Normalize puts an expression in its stored form, fields separated by
// one space, after checking it as Parse does.
func Normalize(expr string) (string, error) {
	expr = strings.Join(strings.Fields(expr), " ")
	if _, err := Parse(expr, "UTC"); err != nil {
		return "", err
	}
	return expr, nil
}

// LoadZone reads an IANA time zone name; empty is UTC. "Local" is
// refused: it would mean whichever machine runs the daemon.
func LoadZone(zone string) (*time.Location, error) {
	zone = strings.TrimSpace(zone)
	if zone == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(zone, "local") {
		return nil, fmt.Errorf("time zone %q depends on the machine: give an IANA zone name like Europe/Paris or UTC", zone)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || len(zone) > maxExpr {
		return nil, fmt.Errorf("time zone %q is not an IANA zone name like Europe/Paris, America/New_York or UTC", clip(zone))
	}
	return loc, nil
}

func parse(p cron.Parser, expr, zone string) (Schedule, error) {
	loc, err := LoadZone(zone)
	if err != nil {
		return Schedule{}, err
	}
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return Schedule{}, errors.New(`empty schedule: give a cron expression like "0 6 * * *"`)
	case len(expr) > maxExpr:
		return Schedule{}, fmt.Errorf("schedule %q is %d characters long: give a five-field cron expression like \"0 6 * * *\"", clip(expr), len(expr))
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return Schedule{}, fmt.Errorf("schedule %q names a time zone: give the zone with --tz, not in the schedule", expr)
	case strings.HasPrefix(expr, "@every"):
		return Schedule{}, fmt.Errorf("schedule %q is an interval: digest sends one edition per local date at clock times, so give a cron expression like \"0 6 * * *\" or @daily", expr)
	}
	parsed, err := safeParse(p, expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q is not a five-field cron expression like \"0 6 * * *\" (minute hour day-of-month month day-of-week): %v", expr, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, fmt.Errorf("schedule %q is not a clock-time schedule", expr)
	}
	s := *spec
	s.Location = loc
	return Schedule{spec: &s, loc: loc}, nil
}

// safeParse shields against robfig/cron panicking on some malformed input.
func safeParse(p cron.Parser, expr string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return p.Parse(expr)
}

func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }

// Date is the local date of a fire, in DateLayout: the edition it sends.
func (s Schedule) Date(fire time.Time) string { return fire.In(s.loc).Format(DateLayout) }

// NextEdition is the fire after t at which an edition goes out: the first
// fire of a local date. Later fires on the same date (a schedule firing
// twice a day, the autumn's repeated hour) find the date's edition sent,
// or caught up or skipped when the date's first fire was missed, and send
// nothing. This is what lists show prints and what the daemon logs. Zero
// when the schedule never fires (31 February).
func (s Schedule) NextEdition(t time.Time) time.Time {
	f := s.Next(t)
	for !f.IsZero() && !s.firstOfDate(f) {
		// Jump to the next date's midnight, then past any fire still on
		// f's date (midnight may lie in a gap and come out early).
		d := s.Date(f)
		y, m, day := f.In(s.loc).Date()
		f = s.Next(time.Date(y, m, day+1, 0, 0, 0, 0, s.loc).Add(-time.Second))
		for !f.IsZero() && s.Date(f) == d {
			f = s.Next(f)
		}
	}
	return f
}

// firstOfDate reports whether no earlier fire falls on the local date of
// fire f. A local date lasts at most 25 hours (26 covers any offset
// change), and dates may repeat when clocks fall back across midnight.
func (s Schedule) firstOfDate(f time.Time) bool {
	prev := s.Latest(f.Add(-time.Second), 26*time.Hour)
	return prev.IsZero() || s.Date(prev) != s.Date(f)
}

// Next returns the first fire time after t (see Schedule for the gap). It
// makes Schedule a cron.Schedule, so the daemon's cron fires on it.
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
