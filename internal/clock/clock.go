// Package clock is digest's one source of "now" for the types that let a
// test set the time: each keeps a Now func field, and a nil field means
// the wall clock. Manual is the settable clock those tests pass.
package clock

import (
	"sync"
	"time"
)

// Now returns now(), or the wall clock's time when now is nil.
func Now(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// Manual is a clock that moves only when told to; it is safe for
// concurrent use, since a daemon under test reads it from its own
// goroutines while the test moves it.
type Manual struct {
	mu sync.Mutex
	t  time.Time
}

// NewManual returns a Manual clock showing t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

// Now returns the clock's time; pass it as a Now field.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Add moves the clock by d.
func (c *Manual) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
