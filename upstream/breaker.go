package upstream

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// BreakerState is the state of a target's circuit breaker.
//
//	closed    requests flow; outcomes feed the outlier rules (see Outlier)
//	open      a rule tripped: the target is ejected, no request is sent,
//	          for n × BaseEjection (n ejections in a row, capped)
//	half-open the ejection ran out, or the health checks saw the target
//	          come back: up to HalfOpenProbes requests go through at once;
//	          HalfOpenProbes successes in a row close it, one failure
//	          opens it again for a longer ejection
type BreakerState uint32

// The breaker's states.
const (
	BreakerClosed BreakerState = iota
	BreakerOpen
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "BreakerState(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// breaker is a target's outlier detector and circuit breaker in one. The
// request path reads and counts with atomics; transitions take mu. Moments
// are nanoseconds since epoch on the pool's clock, passed in by the caller,
// so that tests drive it with a fake clock. The zero breaker is closed.
type breaker struct {
	state       atomic.Uint32 // a BreakerState
	openUntil   atomic.Int64  // end of the ejection while open
	probes      atomic.Int32  // half-open requests in flight
	consecutive atomic.Int64  // failures in a row while closed
	ejections   atomic.Uint64 // times opened
	win         window        // outcomes while closed, for FailureRatio

	mu        sync.Mutex // guards transitions and the fields below
	successes int32      // probe successes in a row while half-open
	streak    int        // ejections in a row, for the growing interval
	closedAt  int64      // when it last closed
}

func (b *breaker) load() BreakerState { return BreakerState(b.state.Load()) }

// available reports whether admit could let a request through at now.
func (b *breaker) available(now int64, o *Outlier) bool {
	switch b.load() {
	case BreakerClosed:
		return true
	case BreakerOpen:
		return !o.enabled() || now >= b.openUntil.Load()
	default:
		return !o.enabled() || b.probes.Load() < o.halfOpenProbes()
	}
}

// suspect reports whether the target is on trial (open or half-open) or
// has failed a tenth of at least 5 requests in the current window.
func (b *breaker) suspect(now int64, o *Outlier) bool {
	if b.load() != BreakerClosed {
		return true
	}
	if !o.enabled() {
		return false
	}
	requests, failures := b.win.sums(now, o.bucketWidth())
	return requests >= 5 && 10*failures >= requests
}

// admit lets one request through at now, or not; probe reports that it
// took a half-open probe slot, which finish gives back.
func (b *breaker) admit(now int64, o *Outlier) (ok, probe bool) {
	for {
		switch b.load() {
		case BreakerClosed:
			return true, false
		case BreakerOpen:
			if !o.enabled() {
				b.reset(now)
				continue
			}
			if now < b.openUntil.Load() {
				return false, false
			}
			b.mu.Lock()
			if b.load() == BreakerOpen && now >= b.openUntil.Load() {
				b.halfOpenLocked()
			}
			b.mu.Unlock()
		default:
			if !o.enabled() {
				b.reset(now)
				continue
			}
			n := b.probes.Load()
			if n >= o.halfOpenProbes() {
				return false, false
			}
			if b.probes.CompareAndSwap(n, n+1) {
				return true, true
			}
		}
	}
}

// finish records the outcome of a request admit let through.
func (b *breaker) finish(now int64, failed, probe bool, o *Outlier) {
	if probe {
		defer b.probes.Add(-1)
	}
	if !o.enabled() {
		return
	}
	switch b.load() {
	case BreakerClosed:
		b.record(now, failed, o)
	case BreakerHalfOpen:
		if probe { // a request admitted while closed tells nothing new
			b.probed(now, failed, o)
		}
	}
}

// cancel gives back what admit took for a request that was not sent.
func (b *breaker) cancel(probe bool) {
	if probe {
		b.probes.Add(-1)
	}
}

// record counts an outcome while closed and opens the breaker when a rule
// trips.
func (b *breaker) record(now int64, failed bool, o *Outlier) {
	b.win.add(now, o.bucketWidth(), failed)
	if !failed {
		if b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
		return
	}
	c := b.consecutive.Add(1)
	if o.ConsecutiveFailures > 0 && c >= int64(o.ConsecutiveFailures) || o.tripped(&b.win, now) {
		b.mu.Lock()
		if b.load() == BreakerClosed {
			if now-b.closedAt >= int64(o.maxEjection()) {
				b.streak = 0 // closed long enough: start again from BaseEjection
			}
			b.openLocked(now, o)
		}
		b.mu.Unlock()
	}
}

// probed counts a half-open probe's outcome.
func (b *breaker) probed(now int64, failed bool, o *Outlier) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.load() != BreakerHalfOpen {
		return
	}
	if failed {
		b.openLocked(now, o)
		return
	}
	if b.successes++; b.successes >= o.halfOpenProbes() {
		b.closeLocked(now)
	}
}

// revive turns an open breaker half-open at once: the health checks saw the
// target come back, so its probes need not wait for the ejection to end.
func (b *breaker) revive() {
	b.mu.Lock()
	if b.load() == BreakerOpen {
		b.halfOpenLocked()
	}
	b.mu.Unlock()
}

// reset closes the breaker whatever its state: outlier detection is off.
func (b *breaker) reset(now int64) {
	b.mu.Lock()
	if b.load() != BreakerClosed {
		b.closeLocked(now)
	}
	b.mu.Unlock()
}

func (b *breaker) openLocked(now int64, o *Outlier) {
	b.streak++
	b.openUntil.Store(now + int64(o.ejection(b.streak)))
	b.state.Store(uint32(BreakerOpen))
	b.ejections.Add(1)
}

func (b *breaker) halfOpenLocked() {
	b.successes = 0
	b.state.Store(uint32(BreakerHalfOpen))
}

func (b *breaker) closeLocked(now int64) {
	b.closedAt = now
	b.consecutive.Store(0)
	b.win.reset()
	b.state.Store(uint32(BreakerClosed))
}
