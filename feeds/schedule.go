package feeds

import (
	"math"
	"time"
)

// Bounds of the poll schedule.
const (
	// MinInterval and MaxInterval bound the adaptive schedule (and
	// --every): a feed publishing every minute is still polled only every
	// 5 minutes, a feed silent for a week still every 6 hours.
	MinInterval = 5 * time.Minute
	MaxInterval = 6 * time.Hour
	// MaxBackoff caps the wait after failures, and how far a server's
	// Cache-Control or Retry-After may push the next poll.
	MaxBackoff = 24 * time.Hour
)

// AdaptiveInterval is the entry-frequency schedule, after Miniflux's: a
// feed that published weekly items in the last seven days is polled about
// once per item's worth of time (a week divided by the count), within
// MinInterval..MaxInterval; a feed with none, every MaxInterval.
func AdaptiveInterval(weekly int) time.Duration {
	if weekly <= 0 {
		return MaxInterval
	}
	d := time.Duration(math.Round(float64(7*24*time.Hour) / float64(weekly)))
	return min(max(d, MinInterval), MaxInterval)
}

// Backoff is the wait after errors failures in a row: 5 minutes, then
// doubling (10, 20, 40 min, ...) up to MaxBackoff, so a blip costs little
// and a dead feed is tried about once a day.
func Backoff(errors int) time.Duration {
	if errors <= 0 {
		return 0
	}
	if errors > 20 {
		return MaxBackoff
	}
	return min(MinInterval<<(errors-1), MaxBackoff)
}

// nextFetch is when f is polled again after a fetch at now: its --every
// or the adaptive interval, at least what the server asked for with
// Cache-Control max-age or Retry-After (up to MaxBackoff); after a failure
// the back-off instead, again no sooner than Retry-After.
func nextFetch(now time.Time, every time.Duration, weekly, errors int, maxAge, retryAfter time.Duration) time.Time {
	var d time.Duration
	if errors > 0 {
		d = Backoff(errors)
	} else if every > 0 {
		d = every
	} else {
		d = AdaptiveInterval(weekly)
	}
	asked := min(max(maxAge, retryAfter), MaxBackoff)
	return now.Add(max(d, asked))
}
