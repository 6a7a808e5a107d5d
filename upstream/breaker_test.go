package upstream

import (
	"testing"
	"time"
)

// ms is a moment on the breaker's clock, in milliseconds.
func ms(n int64) int64 { return n * int64(time.Millisecond) }

// send runs one request through b at now: admitted or not, and its outcome
// recorded when admitted.
func send(b *breaker, o *Outlier, now int64, failed bool) (admitted, probe bool) {
	ok, probe := b.admit(now, o)
	if ok {
		b.finish(now, failed, probe, o)
	}
	return ok, probe
}

func TestBreakerConsecutiveFailuresEject(t *testing.T) {
	o := &Outlier{ConsecutiveFailures: 3, BaseEjection: time.Second, MaxEjection: 3 * time.Second, HalfOpenProbes: 2}
	var b breaker
	for i := range 2 {
		send(&b, o, ms(int64(i)), true)
	}
	send(&b, o, ms(2), false) // a success breaks the run
	send(&b, o, ms(3), true)
	send(&b, o, ms(4), true)
	if got := b.load(); got != BreakerClosed {
		t.Fatalf("after 2 failures in a row: %v; want closed", got)
	}
	send(&b, o, ms(5), true)
	if got := b.load(); got != BreakerOpen || b.ejections.Load() != 1 {
		t.Fatalf("after 3 failures in a row: %v, %d ejections; want open, 1", got, b.ejections.Load())
	}
	if ok, _ := b.admit(ms(5+999), o); ok || b.available(ms(5+999), o) {
		t.Fatalf("admitted 999ms into a 1s ejection; want refused")
	}
	if !b.available(ms(1005), o) {
		t.Fatalf("not available when the 1s ejection ran out; want available (half-open)")
	}
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	o := &Outlier{ConsecutiveFailures: 1, BaseEjection: time.Second, MaxEjection: 10 * time.Second, HalfOpenProbes: 2}
	var b breaker
	send(&b, o, 0, true)
	now := ms(1000)
	ok1, p1 := b.admit(now, o)
	ok2, p2 := b.admit(now, o)
	ok3, _ := b.admit(now, o)
	if !ok1 || !p1 || !ok2 || !p2 || ok3 || b.load() != BreakerHalfOpen {
		t.Fatalf("half-open admits %v/%v %v/%v %v, state %v; want two probes, the third refused, half-open", ok1, p1, ok2, p2, ok3, b.load())
	}
	if b.available(now, o) {
		t.Fatalf("available with both probe slots taken; want not")
	}
	b.finish(now, false, true, o)
	if b.load() != BreakerHalfOpen {
		t.Fatalf("after 1 of 2 probe successes: %v; want still half-open", b.load())
	}
	b.finish(now, false, true, o)
	if b.load() != BreakerClosed || b.probes.Load() != 0 {
		t.Fatalf("after 2 probe successes: %v, %d probes in flight; want closed, 0", b.load(), b.probes.Load())
	}
}

func TestBreakerEjectionGrowsAndIsCapped(t *testing.T) {
	o := &Outlier{ConsecutiveFailures: 1, BaseEjection: time.Second, MaxEjection: 3500 * time.Millisecond, HalfOpenProbes: 1}
	var b breaker
	now := int64(0)
	send(&b, o, now, true)
	var got []time.Duration
	for range 5 {
		until := b.openUntil.Load()
		got = append(got, time.Duration(until-now))
		now = until
		if ok, probe := send(&b, o, now, true); !ok || !probe { // the half-open probe fails
			t.Fatalf("at the end of an ejection: admitted %v probe %v; want a probe", ok, probe)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3500 * time.Millisecond, 3500 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ejections %v; want %v (n x base, capped)", got, want)
		}
	}
	if b.ejections.Load() != 6 {
		t.Fatalf("%d ejections; want 6", b.ejections.Load())
	}
	// Back to closed, then a long quiet spell: the next ejection is short again.
	now = b.openUntil.Load()
	send(&b, o, now, false)
	if b.load() != BreakerClosed {
		t.Fatalf("after a probe success: %v; want closed", b.load())
	}
	send(&b, o, now+ms(100), true)
	if d := time.Duration(b.openUntil.Load() - now - ms(100)); d != 3500*time.Millisecond {
		t.Fatalf("tripped again 100ms after closing: ejected %v; want the grown 3.5s", d)
	}
	now = b.openUntil.Load()
	send(&b, o, now, false)
	send(&b, o, now+ms(3500), true)
	if d := time.Duration(b.openUntil.Load() - now - ms(3500)); d != time.Second {
		t.Fatalf("tripped after max_ejection closed: ejected %v; want base 1s again", d)
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	o := &Outlier{FailureRatio: 0.5, MinRequests: 10, Window: time.Second, BaseEjection: time.Second}
	var b breaker
	// 4 of 9: under min_requests and under the ratio.
	for i := range 9 {
		send(&b, o, ms(int64(i)), i%2 == 1)
	}
	if b.load() != BreakerClosed {
		t.Fatalf("4 failures in 9 requests: %v; want closed", b.load())
	}
	send(&b, o, ms(9), true) // 5 of 10
	if b.load() != BreakerOpen {
		t.Fatalf("5 failures in 10 requests with ratio 0.5: %v; want open", b.load())
	}
	// Failures older than the window do not count.
	var c breaker
	for i := range 8 {
		send(&c, o, ms(int64(i)), true)
	}
	for i := range 20 {
		send(&c, o, ms(1500+int64(i)), i%3 == 0)
	}
	if c.load() != BreakerClosed {
		t.Fatalf("old failures plus 7 in 20 recent requests: %v; want closed (the old ones expired)", c.load())
	}
}

func TestBreakerStaleOutcomesAndRevive(t *testing.T) {
	o := &Outlier{ConsecutiveFailures: 2, BaseEjection: 10 * time.Second, HalfOpenProbes: 1}
	var b breaker
	ok1, _ := b.admit(0, o)
	ok2, _ := b.admit(0, o)
	send(&b, o, 0, true)
	send(&b, o, 0, true)
	if !ok1 || !ok2 || b.load() != BreakerOpen {
		t.Fatalf("state %v; want open", b.load())
	}
	// Two requests admitted before the trip finish now: they change nothing.
	b.finish(ms(1), false, false, o)
	b.finish(ms(1), true, false, o)
	if b.load() != BreakerOpen || b.ejections.Load() != 1 {
		t.Fatalf("after stale outcomes: %v, %d ejections; want open, 1", b.load(), b.ejections.Load())
	}
	b.revive() // the health checks saw it come back
	if ok, probe := b.admit(ms(2), o); !ok || !probe {
		t.Fatalf("after revive, 2ms into a 10s ejection: admitted %v probe %v; want a probe", ok, probe)
	}
	b.finish(ms(3), false, true, o)
	if b.load() != BreakerClosed {
		t.Fatalf("after the probe's success: %v; want closed", b.load())
	}
}

func TestBreakerOffWhenNoRule(t *testing.T) {
	on := &Outlier{ConsecutiveFailures: 1}
	off := &Outlier{}
	var b breaker
	send(&b, on, 0, true)
	if b.load() != BreakerOpen {
		t.Fatalf("state %v; want open", b.load())
	}
	// A reload switched detection off: the open breaker lets requests through.
	if !b.available(0, off) {
		t.Fatalf("open breaker with outlier detection off: not available; want available")
	}
	if ok, probe := b.admit(0, off); !ok || probe || b.load() != BreakerClosed {
		t.Fatalf("admit with detection off: %v probe %v state %v; want admitted, closed", ok, probe, b.load())
	}
	for range 100 {
		send(&b, off, 0, true)
	}
	if b.load() != BreakerClosed {
		t.Fatalf("100 failures with detection off: %v; want closed", b.load())
	}
}

func TestEjectionOverflow(t *testing.T) {
	o := &Outlier{BaseEjection: time.Hour, MaxEjection: 1 << 62}
	if got := o.ejection(1 << 40); got != 1<<62 {
		t.Fatalf("ejection(2^40) = %v; want the cap, not an overflow", got)
	}
}

func TestStateStrings(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
	}
	f(BreakerClosed.String(), "closed")
	f(BreakerOpen.String(), "open")
	f(BreakerHalfOpen.String(), "half-open")
	f(BreakerState(7).String(), "BreakerState(7)")
	f(StateHealthy.String(), "healthy")
	f(StateUnhealthy.String(), "unhealthy")
	f(StateEjected.String(), "ejected")
	f(StateHalfOpen.String(), "half-open")
}

// TestBreakerRatioSeesRecentFailures: a target that served well for most of
// the window and then fails half its requests is ejected on the recent
// part of the window, not after the old successes age out.
func TestBreakerRatioSeesRecentFailures(t *testing.T) {
	o := &Outlier{FailureRatio: 0.3, MinRequests: 20, Window: 10 * time.Second, BaseEjection: time.Second, MaxEjection: 10 * time.Second}
	var b breaker
	for i := range 500 { // 5 s of successes, 100 a second
		send(&b, o, ms(int64(i*10)), false)
	}
	failures := 0
	for i := range 200 { // then every other request fails
		failed := i%2 == 1
		if failed {
			failures++
		}
		send(&b, o, ms(5000+int64(i*10)), failed)
		if b.load() == BreakerOpen {
			break
		}
	}
	if b.load() != BreakerOpen || failures > 15 {
		t.Fatalf("after %d failures at 50%% following 500 successes: %v; want open within about 10 failures (the whole window's ratio would need about 220)", failures, b.load())
	}
}
