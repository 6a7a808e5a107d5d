package sharedcache

import (
	"sync/atomic"
	"time"
)

// breaker turns a Redis that fails or times out into immediate misses:
// failures calls in a row open it for openFor; then one call at a time
// probes, and a success closes it.
type breaker struct {
	failures int32
	openFor  time.Duration

	inRow     atomic.Int32
	openUntil atomic.Int64 // Unix nanoseconds; 0: closed
	probing   atomic.Bool
	opens     atomic.Uint64
}

// allow reports whether a call may go to Redis at now.
func (b *breaker) allow(now time.Time) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true) // half open: one probe
}

func (b *breaker) open(now time.Time) bool {
	until := b.openUntil.Load()
	return until != 0 && now.UnixNano() < until
}

func (b *breaker) success() {
	b.inRow.Store(0)
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

// failure records a failed call and reports whether it opened the breaker.
func (b *breaker) failure(now time.Time) bool {
	probe := b.probing.Load()
	if b.inRow.Add(1) < b.failures && !probe {
		return false
	}
	b.inRow.Store(0)
	b.openUntil.Store(now.Add(b.openFor).UnixNano())
	b.probing.Store(false)
	b.opens.Add(1)
	return true
}
