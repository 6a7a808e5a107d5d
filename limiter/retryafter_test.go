package limiter

import (
	"math"
	"testing"
	"time"
)

func TestRetryAfterArithmetic(t *testing.T) {
	f := func(ahead, rate, u1, u2 float64, want int) {
		t.Helper()
		if got := retryAfter(ahead, rate, u1, u2); got != want {
			t.Errorf("retryAfter(%v, %v, %v, %v): got %d; want %d", ahead, rate, u1, u2, got, want)
		}
	}
	f(0, 0, 0.5, 0.9, 1)        // nothing measured: 1s
	f(0, 0, 0, 0, 1)            // jitter never goes below 1
	f(9999, 1000, 0.5, 0.9, 10) // 10s of backlog
	f(9999, 1000, 0, 0.9, 7)    // -30%
	f(9999, 1000, 0.9999, 0.9, 13)
	f(9999, 1000, 0.9999, 0.9995, 12) // 12.9994 rounds down with probability 0.0006
	f(1e6, 1000, 0.5, 0.9, 60)        // clamped
	f(1e6, 0.001, 1, 1, 60)
}

func TestRetryAfterSpread(t *testing.T) {
	l, err := New(Config{Classes: []ClassConfig{critical, low}})
	if err != nil {
		t.Fatal(err)
	}
	l.drain.Store(math.Float64bits(1000))                          // completions per second
	l.classes.Load().list[0].rejRate.Store(math.Float64bits(6000)) // turned away per second
	l.classes.Load().list[1].rejRate.Store(math.Float64bits(3000))
	f := func(c int, lo, hi int, mean float64) {
		t.Helper()
		seen := map[int]int{}
		sum := 0
		for range 10000 {
			n := l.RetryAfter(c)
			if n < lo || n > hi {
				t.Fatalf("RetryAfter(%d): got %d; want in [%d, %d]", c, n, lo, hi)
			}
			seen[n]++
			sum += n
		}
		got := float64(sum) / 10000
		t.Logf("class %d: mean %.2fs over %d distinct values %v", c, got, len(seen), seen)
		if math.Abs(got-mean) > 0.1*mean || len(seen) < (hi-lo)/2 {
			t.Errorf("RetryAfter(%d): mean %.2f over %d values; want about %.1f, spread over [%d, %d]", c, got, len(seen), mean, lo, hi)
		}
	}
	f(0, 4, 8, 6) // 6000 ahead / 1000 per second, ±30%
	f(1, 6, 12, 9)
}

func TestStatsMeanWait(t *testing.T) {
	h := newQH(t, 1, normal)
	tok := h.hold(0)
	h.start("a", 0, time.Time{})
	h.clk.Advance(30 * time.Millisecond)
	tok.Release(0, OutcomeIgnore)
	h.expect("a", ReasonNone).Release(0, OutcomeIgnore)
	// End a window: it needs 100 ms and 10 samples, so the 14th release,
	// 100 ms in, ends it: 16 admitted, one of them waited 30 ms.
	for range 14 {
		tok := h.hold(0)
		h.clk.Advance(5 * time.Millisecond)
		tok.Release(20*time.Millisecond, OutcomeOK)
	}
	var s Stats
	h.l.Stats(&s)
	want := 30 * time.Millisecond / 16
	if got := s.Classes[0].MeanWait; got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("mean wait: got %v; want %v", got, want)
	}
	if s.Limit != 1 || s.InFlight != 0 || s.MinRTT != 20*time.Millisecond || s.P90RTT != 20*time.Millisecond || s.DrainRate <= 0 {
		t.Errorf("stats: got %+v", s)
	}
	if n := testing.AllocsPerRun(100, func() { h.l.Stats(&s) }); n != 0 {
		t.Errorf("Stats into a reused value: %v allocs; want 0", n)
	}
}
