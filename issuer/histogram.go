package issuer

import (
	"math/bits"
	"sync"
	"time"
)

// Latency histogram layout: values in microseconds; values below 16 have a
// bucket each, and every power of two above is split into 16 buckets, so a
// quantile is off by at most about 3%. Values from 2^40 µs (12 days) up
// share the last bucket.
const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histMaxExp  = 40
	histBuckets = histSub + (histMaxExp-histSubBits)*histSub
)

// histogram is a fixed-size latency histogram. It is safe for concurrent
// use.
type histogram struct {
	mu     sync.Mutex // guards the fields below
	counts [histBuckets]uint64
	total  uint64
	max    time.Duration
}

// bucketOf returns the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us < histSub {
		return int(us)
	}
	shift := bits.Len64(us) - histSubBits - 1
	i := histSub + shift*histSub + int(us>>shift) - histSub
	return min(i, histBuckets-1)
}

// bucketMid returns the middle of bucket i in microseconds.
func bucketMid(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	shift := (i - histSub) / histSub
	lo := uint64(histSub+(i-histSub)%histSub) << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.mu.Lock()
	h.counts[bucketOf(us)]++
	h.total++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

func (h *histogram) reset() {
	h.mu.Lock()
	h.counts = [histBuckets]uint64{}
	h.total = 0
	h.max = 0
	h.mu.Unlock()
}

// LatencySummary is the receipt-to-answer time of answered requests since
// the last reset, in milliseconds; zero when none was answered.
type LatencySummary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (h *histogram) summary() LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return LatencySummary{}
	}
	maxMs := float64(h.max) / float64(time.Millisecond)
	return LatencySummary{
		P50: min(h.quantileLocked(0.50)/1000, maxMs),
		P99: min(h.quantileLocked(0.99)/1000, maxMs),
		Max: maxMs,
	}
}

// quantileLocked returns the q quantile in microseconds.
func (h *histogram) quantileLocked(q float64) float64 {
	rank := uint64(q*float64(h.total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return bucketMid(i)
		}
	}
	return bucketMid(histBuckets - 1)
}
