package upstream

import (
	"errors"
	"sync"
	"testing"
	"time"

	"shedgate/internal/fakeclock"
	"shedgate/internal/wait"
)

// TestHangingTargetEjected makes one of two targets hang: no request
// waits longer than the timeout, the hanging target is ejected after a few
// timeouts, and while ejected it gets nothing but the half-open probes.
func TestHangingTargetEjected(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	const timeout = 200 * time.Millisecond
	p, _ := newPool(Config{
		Name: "u", Targets: []string{a.addr, b.addr}, Timeout: timeout,
		Outlier: Outlier{ConsecutiveFailures: 3, BaseEjection: time.Second, MaxEjection: 10 * time.Second, HalfOpenProbes: 1},
	})
	ta := p.Target(a.addr)
	a.hang.Store(true)
	var l load
	stop := make(chan struct{})
	done := l.run(p, 4, 5*time.Millisecond, false, stop)
	wait.For(t, 2*time.Second, "the hanging target's ejection", func() bool { return ta.Ejections() > 0 })
	ejectedAt := time.Now()
	hungBefore := a.requests.Load()
	time.Sleep(800 * time.Millisecond) // within the 1s ejection
	hungDuring := a.requests.Load() - hungBefore
	_, errsDuring, lastErr, _ := l.snapshot()
	time.Sleep(500 * time.Millisecond) // the ejection ends: one probe hangs, and it is ejected again
	close(stop)
	<-done
	sent, errs, _, maxDur := l.snapshot()
	t.Logf("hanging target: %d timeouts until the ejection took hold, %d requests reached it during the ejection, the last error %v after it began; "+
		"%d of %d requests failed (%s); slowest request %v (timeout %v); %d requests after the ejection ended, %d ejections",
		errsDuring, hungDuring, lastErr.Sub(ejectedAt).Round(time.Millisecond), errs, sent, pct(errs, sent),
		maxDur.Round(time.Millisecond), timeout, a.requests.Load()-hungBefore, ta.Ejections())
	if maxDur > timeout+150*time.Millisecond {
		t.Fatalf("a request took %v; want none longer than the %v timeout", maxDur, timeout)
	}
	if hungDuring != 0 {
		t.Fatalf("%d requests reached the hanging target while it was ejected; want 0", hungDuring)
	}
	if d := lastErr.Sub(ejectedAt); d > timeout+150*time.Millisecond {
		t.Fatalf("errors went on %v into the ejection; want only those already in flight (within the timeout)", d)
	}
	if n := a.requests.Load() - hungBefore; n != 1 || ta.Ejections() != 2 {
		t.Fatalf("after the ejection: %d requests to the hanging target, %d ejections; want 1 half-open probe, then ejected again (2)", n, ta.Ejections())
	}
}

// TestUnavailableDialsNothing checks that an ejected target costs no
// connection: an attempt answers ErrUnavailable at once and attempts nothing.
func TestUnavailableDialsNothing(t *testing.T) {
	addr, conns, _ := rawBackend(t, true)
	clock := fakeclock.New(time.Now())
	p, _ := newPool(Config{Name: "u", Targets: []string{addr}, Clock: clock.Now,
		Outlier: Outlier{ConsecutiveFailures: 2, BaseEjection: time.Second, HalfOpenProbes: 1}})
	for range 2 {
		if err := get(p, time.Time{}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("reset target: %v; want ErrUnavailable", err)
		}
	}
	dials := conns.Load()
	for range 1000 {
		if err := get(p, time.Time{}); err != ErrUnavailable {
			t.Fatalf("ejected target: %v; want ErrUnavailable", err)
		}
	}
	if got := conns.Load() - dials; got != 0 || p.Unavailable() != 1000 {
		t.Fatalf("1000 requests to an ejected target: %d connections, %d counted unavailable; want 0 and 1000", got, p.Unavailable())
	}
	clock.Advance(time.Second) // the ejection ends: one probe may go
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); get(p, time.Time{}) }() //nolint:errcheck
	}
	wg.Wait()
	if got := conns.Load() - dials; got != 1 {
		t.Fatalf("20 concurrent requests when the ejection ended: %d connections; want 1 (the half-open probe)", got)
	}
	var s PoolStats
	p.Stats(&s)
	if ts := s.Targets[0]; ts.State != StateEjected || ts.Breaker != BreakerOpen || ts.Ejections != 2 || ts.Failures != 3 || ts.Requests != 3 {
		t.Fatalf("stats %+v; want ejected, open, 2 ejections, 3 failures of 3 requests", ts)
	}
}
