package issuer

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<20; us += 1 + us/64 {
		i := bucketOf(us)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d < bucketOf of a smaller value %d", us, i, prev)
		}
		prev = i
		if mid := bucketMid(i); math.Abs(mid-float64(us)) > 0.04*float64(us)+0.5 {
			t.Fatalf("bucketMid(bucketOf(%d)) = %v; want within 4%%", us, mid)
		}
	}
	if got := bucketOf(math.MaxUint64); got != histBuckets-1 {
		t.Errorf("bucketOf(max): got %d; want %d", got, histBuckets-1)
	}
}

func TestHistogramSummary(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	s := h.summary()
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.04*want }
	if !near(s.P50, 500) || !near(s.P99, 990) || s.Max != 1000 {
		t.Errorf("summary of 1..1000ms: got %+v; want p50 ~500, p99 ~990, max 1000", s)
	}
	h.reset()
	if s := h.summary(); s != (LatencySummary{}) {
		t.Errorf("summary after reset: got %+v; want zero", s)
	}
}
