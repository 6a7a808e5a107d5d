package limiter

import (
	"testing"
	"time"
)

// TestAllocations fails when a reject decision, the fast path, RetryAfter,
// Stats or KeyRate.Allow allocates.
func TestAllocations(t *testing.T) {
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per run; want 0", name, n)
		}
	}
	h := newQH(t, 2, critical, ClassConfig{Name: "noqueue"}, low)
	h.prime(20 * time.Millisecond)
	f("admit and release", func() {
		tok, r := h.l.Acquire(0, 0, time.Time{})
		if r != ReasonNone {
			t.Fatalf("Acquire: got %v; want none", r)
		}
		tok.Release(20*time.Millisecond, OutcomeOK)
	})
	f("reject deadline", func() {
		if _, r := h.l.Acquire(0, 0, h.clk.Now().Add(time.Millisecond)); r != ReasonDeadline {
			t.Fatalf("Acquire: got %v; want deadline", r)
		}
	})
	tok1, tok2 := h.hold(0), h.hold(0)
	f("reject queue full", func() {
		if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonQueueFull {
			t.Fatalf("Acquire: got %v; want queue_full", r)
		}
	})
	h.start("critical", 0, time.Time{})
	h.clk.Advance(150 * time.Millisecond)
	f("reject shed", func() {
		if _, r := h.l.Acquire(2, 0, time.Time{}); r != ReasonShed {
			t.Fatalf("Acquire: got %v; want shed", r)
		}
	})
	f("RetryAfter", func() { _ = h.l.RetryAfter(2) })
	var s Stats
	h.l.Stats(&s)
	f("Stats", func() { h.l.Stats(&s) })
	tok1.Release(0, OutcomeIgnore)
	h.expect("critical", ReasonNone).Release(0, OutcomeIgnore)
	tok2.Release(0, OutcomeIgnore)

	k, _ := newTestKeyRate(KeyRateConfig{Rate: 1, Burst: 1})
	key := uint64(0)
	f("KeyRate.Allow new key", func() { key++; k.Allow(key) })
	f("KeyRate.Allow denied", func() {
		if ok, _ := k.Allow(1); ok {
			t.Fatalf("Allow: got true; want false")
		}
	})
}
