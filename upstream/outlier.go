package upstream

import (
	"sync/atomic"
	"time"
)

// Outlier configures passive outlier detection: the rules that open a
// target's breaker (see breaker.go) from the outcomes of real requests.
// A failure is an attempt with no HTTP answer (connection refused or reset,
// timeout, garbage) or with a 5xx answer.
//
// Outlier detection and the circuit breaker are one state machine per
// target: a tripped rule is what opens the breaker, the ejection is the
// open state, and the way back is the half-open probe.
//
// The zero Outlier detects nothing: set ConsecutiveFailures or
// FailureRatio to switch a rule on.
type Outlier struct {
	// ConsecutiveFailures opens the breaker after that many failures in a
	// row. Default 0: rule off.
	ConsecutiveFailures int
	// FailureRatio opens the breaker when failures reach this share of the
	// requests completed within Window, once at least MinRequests
	// completed. Default 0: rule off.
	FailureRatio float64
	// MinRequests is the fewest requests within Window for FailureRatio to
	// apply. Default 20.
	MinRequests int
	// Window is the recent period FailureRatio looks at, kept as ten
	// buckets of Window/10. Default 10s.
	Window time.Duration
	// BaseEjection is the first ejection; the n-th in a row lasts
	// n × BaseEjection, capped at MaxEjection. A target that stayed closed
	// for MaxEjection starts again from BaseEjection. Default 1s.
	BaseEjection time.Duration
	// MaxEjection caps an ejection. Default 30s.
	MaxEjection time.Duration
	// HalfOpenProbes is both how many requests a half-open breaker lets
	// through at once and how many successes in a row close it. Default 3.
	HalfOpenProbes int
}

func (o *Outlier) enabled() bool { return o.ConsecutiveFailures > 0 || o.FailureRatio > 0 }

func (o *Outlier) minRequests() int64 { return int64(orDefault(o.MinRequests, DefaultMinRequests)) }

func (o *Outlier) window() time.Duration { return orDefault(o.Window, DefaultOutlierWindow) }

func (o *Outlier) baseEjection() time.Duration { return orDefault(o.BaseEjection, DefaultBaseEjection) }

func (o *Outlier) maxEjection() time.Duration {
	return max(orDefault(o.MaxEjection, DefaultMaxEjection), o.baseEjection())
}

func (o *Outlier) halfOpenProbes() int32 {
	return int32(orDefault(o.HalfOpenProbes, DefaultHalfOpenProbes))
}

// bucketWidth is the span of one window bucket.
func (o *Outlier) bucketWidth() time.Duration {
	return max(o.window()/windowBuckets, 1)
}

// ejection returns how long the n-th ejection in a row lasts.
func (o *Outlier) ejection(n int) time.Duration {
	base, limit := o.baseEjection(), o.maxEjection()
	if n <= 0 || base > limit/time.Duration(n) {
		return limit
	}
	return base * time.Duration(n)
}

// windowBuckets is the number of buckets a window is kept in.
const windowBuckets = 10

// window counts events, some of them flagged, over a recent period kept
// as windowBuckets buckets of a given width; counting is lock-free. The
// outlier rules count requests and failures in one, the retry budget
// requests and retries. The zero window is empty.
type window struct {
	buckets [windowBuckets]windowBucket
}

type windowBucket struct {
	slot    atomic.Int64 // now / width when the counts began
	events  atomic.Int64
	flagged atomic.Int64
}

// bucket returns the bucket of now, started over when it last counted an
// older slot.
func (w *window) bucket(now int64, width time.Duration) *windowBucket {
	slot := now / int64(width)
	b := &w.buckets[index(slot)]
	if s := b.slot.Load(); s != slot && b.slot.CompareAndSwap(s, slot) {
		// The winner of the swap starts the bucket over; a racing add may
		// land in the old counts, which costs one sample at most.
		b.events.Store(0)
		b.flagged.Store(0)
	}
	return b
}

// add counts one event at now, flagged or not.
func (w *window) add(now int64, width time.Duration, flagged bool) {
	b := w.bucket(now, width)
	b.events.Add(1)
	if flagged {
		b.flagged.Add(1)
	}
}

// counts are one bucket's events and flagged events.
type counts struct{ events, flagged int64 }

// sums returns the events and flagged events of the buckets within the
// window ending at now.
func (w *window) sums(now int64, width time.Duration) (events, flagged int64) {
	var r [windowBuckets]counts
	w.recent(now, width, &r)
	for _, c := range r {
		events += c.events
		flagged += c.flagged
	}
	return events, flagged
}

// recent fills out with the counts of the buckets within the window
// ending at now, newest first.
func (w *window) recent(now int64, width time.Duration, out *[windowBuckets]counts) {
	*out = [windowBuckets]counts{}
	slot := now / int64(width)
	for i := range w.buckets {
		b := &w.buckets[i]
		if s := b.slot.Load(); s <= slot && s > slot-windowBuckets {
			out[slot-s].events += b.events.Load()
			out[slot-s].flagged += b.flagged.Load()
		}
	}
}

// reset empties the window.
func (w *window) reset() {
	for i := range w.buckets {
		w.buckets[i].events.Store(0)
		w.buckets[i].flagged.Store(0)
	}
}

// index maps a slot onto a bucket, for negative slots too.
func index(slot int64) int {
	return int((slot%windowBuckets + windowBuckets) % windowBuckets)
}

// tripped reports whether the ratio rule holds at now for the window or
// for any recent part of it (its last 1, 2, ... buckets) that has
// MinRequests: a target that served well for most of the window and then
// started failing half its requests would otherwise stay in while the old
// successes diluted the ratio (measured: 89 failures in 6 s before a
// consecutive run tripped it).
func (o *Outlier) tripped(w *window, now int64) bool {
	if o.FailureRatio <= 0 {
		return false
	}
	var recent [windowBuckets]counts
	w.recent(now, o.bucketWidth(), &recent)
	var requests, failures int64
	for _, r := range recent {
		requests += r.events
		failures += r.flagged
		if requests >= o.minRequests() && float64(failures) >= o.FailureRatio*float64(requests) {
			return true
		}
	}
	return false
}
