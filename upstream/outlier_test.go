package upstream

import (
	"errors"
	"net/http"
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
// connection while another target can take its requests, and that when
// its ejection ends one probe goes to it.
func TestUnavailableDialsNothing(t *testing.T) {
	addr, conns, _ := rawBackend(t, true)
	good := newBackend(t)
	clock := fakeclock.New(time.Now())
	p, _ := newPool(Config{Name: "u", Targets: []string{addr, good.addr}, Clock: clock.Now,
		Outlier: Outlier{ConsecutiveFailures: 2, BaseEjection: time.Second, HalfOpenProbes: 1}})
	for failed := 0; failed < 2; {
		if err := get(p, time.Time{}); errors.Is(err, ErrUnavailable) {
			failed++
		}
	}
	dials := conns.Load()
	for range 1000 {
		if err := get(p, time.Time{}); err != nil {
			t.Fatalf("with the reset target ejected: %v; want the other target's answer", err)
		}
	}
	if got := conns.Load() - dials; got != 0 {
		t.Fatalf("1000 requests with the reset target ejected: %d connections to it; want 0", got)
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
	if s.Panics != 0 {
		t.Fatalf("%d panics with a healthy target left; want 0", s.Panics)
	}
}

// TestLastTargetIsNeverEjected: a pool's only target failing some
// requests keeps getting them all once its breaker opens (panic mode),
// rather than the pool refusing every request while it is ejected.
func TestLastTargetIsNeverEjected(t *testing.T) {
	b := newBackend(t)
	clock := fakeclock.New(time.Now())
	p, _ := newPool(Config{Name: "u", Targets: []string{b.addr}, Clock: clock.Now,
		Outlier: Outlier{ConsecutiveFailures: 2, BaseEjection: time.Minute}})
	b.failAll.Store(http.StatusInternalServerError)
	for range 3 {
		get(p, time.Time{}) //nolint:errcheck // 500s: the breaker opens
	}
	b.failAll.Store(0)
	before, panics := b.requests.Load(), p.Panics()
	for range 100 {
		if err := get(p, time.Time{}); err != nil {
			t.Fatalf("the only target, breaker open: %v; want its answer", err)
		}
	}
	var s PoolStats
	p.Stats(&s)
	if got := b.requests.Load() - before; got != 100 || s.Targets[0].Breaker != BreakerOpen || s.Panics-panics != 100 || s.Unavailable != 0 {
		t.Fatalf("%d of 100 requests reached the only target (breaker %v, %d panics, %d unavailable); want 100, open, 100, 0",
			got, s.Targets[0].Breaker, s.Panics-panics, s.Unavailable)
	}
}
