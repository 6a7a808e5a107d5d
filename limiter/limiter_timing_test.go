package limiter

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAcquireRelease is the admission fast path: a free slot, no
// waiters, then a release that feeds the controller.
func BenchmarkAcquireRelease(b *testing.B) {
	l, err := New(Config{MinLimit: 1 << 20, MaxLimit: 1 << 20, Classes: []ClassConfig{normal}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, r := l.Acquire(0, 0, time.Time{})
			if r != ReasonNone {
				b.Fatalf("Acquire: got %v", r)
			}
			tok.Release(20*time.Millisecond, OutcomeOK)
		}
	})
}

// BenchmarkAcquireReject is the reject decision under overload: no slot,
// the class queue full.
func BenchmarkAcquireReject(b *testing.B) {
	l, err := New(Config{MinLimit: 1, MaxLimit: 1, Classes: []ClassConfig{{Name: "noqueue"}}})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := l.Acquire(0, 0, time.Time{})
	defer tok.Release(0, OutcomeIgnore)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, r := l.Acquire(0, 0, time.Time{}); r != ReasonQueueFull {
				b.Fatalf("Acquire: got %v", r)
			}
		}
	})
}

// BenchmarkAcquireQueued is the waiting path: more goroutines than slots,
// each Acquire queues (pooled waiter and timer) until a release hands it a
// slot.
func BenchmarkAcquireQueued(b *testing.B) {
	l, err := New(Config{MinLimit: 4, MaxLimit: 4, Classes: []ClassConfig{{Name: "q", MaxQueue: 1 << 16, MaxWait: time.Minute}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines on 4 slots
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, r := l.Acquire(0, 0, time.Time{})
			if r != ReasonNone {
				b.Fatalf("Acquire: got %v", r)
			}
			runtime.Gosched()
			tok.Release(time.Millisecond, OutcomeOK)
		}
	})
	var s Stats
	l.Stats(&s)
	b.ReportMetric(float64(s.Classes[0].MeanWait.Nanoseconds()), "mean-wait-ns")
}

func BenchmarkKeyRateAllow(b *testing.B) {
	k := NewKeyRate(KeyRateConfig{Rate: 1e9, MaxKeys: 1 << 16})
	var seed atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		x := seed.Add(0x9E3779B97F4A7C15) | 1
		for pb.Next() {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			k.Allow(x & (1<<20 - 1)) // 1M keys over 64K entries: churn
		}
	})
}

func BenchmarkKeyRateDeny(b *testing.B) {
	k := NewKeyRate(KeyRateConfig{Rate: 1, Per: time.Hour, Burst: 1})
	k.Allow(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _ := k.Allow(1); ok {
				b.Fatal("allowed")
			}
		}
	})
}

func BenchmarkRetryAfter(b *testing.B) {
	l, err := New(Config{Classes: []ClassConfig{critical, normal, low}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = l.RetryAfter(2)
		}
	})
}
