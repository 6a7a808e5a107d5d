package limiter

import (
	"time"

	"shedgate/internal/fakeclock"
)

// fakeClock is internal/fakeclock's clock, its AfterFunc returning the
// limiter's Timer, standing at the start of Shanghai's launch day.
type fakeClock struct{ *fakeclock.Clock }

func newFakeClock() *fakeClock {
	return &fakeClock{fakeclock.New(time.Date(2022, 4, 9, 8, 0, 0, 0, time.UTC))}
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer { return c.Clock.AfterFunc(d, f) }
