// Package fakeclock is a clock for tests that moves only when told, to
// inject where a package takes a Now func (and an AfterFunc). It is for
// tests only.
package fakeclock

import (
	"slices"
	"sync"
	"time"
)

// Clock is a settable clock with timers. Now stands still until Set or
// Advance; Advance fires the timers that fall due, in time order, in the
// caller's goroutine. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex // guards t and timers
	t      time.Time
	timers []*Timer // active timers
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t without firing timers (simulations without
// timers use it: it is cheaper).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d, firing due timers on the way, each
// with the clock at its time.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.t.Add(d)
	for {
		i := -1
		for j, t := range c.timers {
			if !t.when.After(target) && (i < 0 || t.when.Before(c.timers[i].when)) {
				i = j
			}
		}
		if i < 0 {
			c.t = target
			c.mu.Unlock()
			return
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		t.active = false
		if t.when.After(c.t) {
			c.t = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
}

// AfterFunc runs f in the goroutine of the Advance that passes d from now.
func (c *Clock) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{c: c, f: f}
	t.Reset(d)
	return t
}

// Pending returns the number of active timers.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Timer is a timer of a Clock, as time.Timer of AfterFunc.
type Timer struct {
	c      *Clock
	f      func()
	when   time.Time
	active bool
}

// Stop stops the timer; it reports whether it was active.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stopLocked()
}

func (t *Timer) stopLocked() bool {
	if !t.active {
		return false
	}
	t.active = false
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *Timer) bool { return x == t })
	return true
}

// Reset makes the timer fire d from the clock's now; it reports whether
// it was active.
func (t *Timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.stopLocked()
	t.active = true
	t.when = t.c.t.Add(d)
	t.c.timers = append(t.c.timers, t)
	return was
}
