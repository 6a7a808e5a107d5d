package limiter

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock for tests: Now stands still until Set or
// Advance, and Advance fires the timers that fall due, in time order, in
// the caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer // active timers
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2022, 4, 9, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t without firing timers (simulations without
// queues use it: it is cheaper).
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing due timers on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		i := -1
		for j, t := range c.timers {
			if !t.when.After(target) && (i < 0 || t.when.Before(c.timers[i].when)) {
				i = j
			}
		}
		if i < 0 {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		t.active = false
		c.now = later(c.now, t.when)
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
}

// pending returns the number of active timers.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type fakeTimer struct {
	c      *fakeClock
	f      func()
	when   time.Time
	active bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	if !t.active {
		return false
	}
	t.active = false
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.stopLocked()
	t.active = true
	t.when = t.c.now.Add(d)
	t.c.timers = append(t.c.timers, t)
	return was
}

// waitFor polls cond until it holds or 5s of real time pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func TestFakeClockFiresInOrder(t *testing.T) {
	c := newFakeClock()
	var got []int
	c.AfterFunc(30*time.Millisecond, func() { got = append(got, 3) })
	c.AfterFunc(10*time.Millisecond, func() { got = append(got, 1) })
	stopped := c.AfterFunc(20*time.Millisecond, func() { got = append(got, 2) })
	if !stopped.Stop() {
		t.Fatalf("Stop of an active timer: got false; want true")
	}
	c.Advance(25 * time.Millisecond)
	if want := []int{1}; !slices.Equal(got, want) {
		t.Fatalf("after 25ms: got %v; want %v", got, want)
	}
	c.Advance(10 * time.Millisecond)
	if want := []int{1, 3}; !slices.Equal(got, want) {
		t.Fatalf("after 35ms: got %v; want %v", got, want)
	}
	if stopped.Stop() {
		t.Fatalf("Stop of a stopped timer: got true; want false")
	}
}
