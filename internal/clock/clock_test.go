package clock_test

import (
	"testing"
	"time"

	"github.com/newsroom/digest/internal/clock"
)

func TestNowFallsBackToTheWallClock(t *testing.T) {
	fixed := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	if got := clock.Now(func() time.Time { return fixed }); !got.Equal(fixed) {
		t.Errorf("with a clock: %s, want %s", got, fixed)
	}
	before := time.Now()
	if got := clock.Now(nil); got.Before(before) {
		t.Errorf("without a clock: %s is before %s", got, before)
	}
}

func TestManualMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	c := clock.NewManual(start)
	if !c.Now().Equal(start) {
		t.Fatalf("new: %s", c.Now())
	}
	c.Add(90 * time.Minute)
	if want := start.Add(90 * time.Minute); !c.Now().Equal(want) {
		t.Errorf("after Add: %s, want %s", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("after Set: %s, want %s", c.Now(), start)
	}
}
