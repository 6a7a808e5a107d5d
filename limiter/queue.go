package limiter

import (
	"math"
	"sync/atomic"
	"time"
)

// class is one priority class: its settings, its queue of waiters and its
// counters. Settings and counters are atomics, read by the lock-free paths;
// the queue itself is guarded by Limiter.mu.
type class struct {
	name      string
	index     int // in the current classSet; guarded by Limiter.mu
	maxQueue  atomic.Int64
	maxWait   atomic.Int64 // ns
	lifoAfter atomic.Int64 // ns
	bulk      atomic.Bool  // ClassConfig.Bulk
	depth     atomic.Int64 // waiters queued; written under Limiter.mu
	since     atomic.Int64 // UnixNano when the queue last became non-empty; 0 while empty
	// stoodUntil (UnixNano): a standing queue that empties stays standing
	// for lifoAfter more, so that in a sustained overload, where its 2 ms
	// waits keep emptying it, it does not fall back to FIFO and full waits
	// every few milliseconds (each such relapse queued a batch of requests
	// that LIFO then starved until their MaxWait: slow rejections).
	stoodUntil atomic.Int64

	head, tail *waiter // oldest first; guarded by Limiter.mu

	admitted atomic.Uint64
	rejected [numReasons]atomic.Uint64
	waitNs   atomic.Int64  // total wait of admitted requests
	rejRate  atomic.Uint64 // float64 bits: rejections per second, smoothed
	// freeNext and freeAny count the admitted that the level cut off and
	// a free slot took: within a demand rank of the level, and further.
	freeNext, freeAny atomic.Uint64

	// Window stats, guarded by Limiter.cmu.
	lastAdmitted uint64
	lastWaitNs   int64
	lastRejected uint64
	meanWait     float64 // ns, smoothed
}

// set applies cc; lifo is Config.LIFOAfter, capped at half of MaxWait.
func (k *class) set(cc ClassConfig, lifo time.Duration) {
	k.maxQueue.Store(int64(cc.MaxQueue))
	k.maxWait.Store(int64(cc.MaxWait))
	k.lifoAfter.Store(int64(min(lifo, cc.MaxWait/2)))
	k.bulk.Store(cc.Bulk)
}

// reject counts a rejection and returns r.
func (k *class) reject(r Reason) Reason {
	k.rejected[r].Add(1)
	return r
}

// standing reports whether the queue has not emptied for lifoAfter, or
// stood less than lifoAfter ago.
func (k *class) standing(now int64) bool {
	s := k.since.Load()
	return s != 0 && now-s > k.lifoAfter.Load() || now < k.stoodUntil.Load()
}

// classSet is the immutable list of classes, highest priority first;
// Reconfigure swaps in a new one.
type classSet struct {
	list     []*class
	arrivals []atomic.Uint64 // per admission level: see levelCtl
}

func newClassSet(n int) *classSet {
	return &classSet{list: make([]*class, n), arrivals: make([]atomic.Uint64, n<<subBits)}
}

func (cs *classSet) byName(name string) *class {
	for _, k := range cs.list {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (cs *classSet) waitingAtOrAbove(c int) bool {
	for _, k := range cs.list[:c+1] {
		if k.depth.Load() > 0 {
			return true
		}
	}
	return false
}

func (cs *classSet) waitingAbove(c int) bool {
	return c > 0 && cs.waitingAtOrAbove(c-1)
}

func (cs *classSet) standingAbove(c int, now int64) bool {
	for _, k := range cs.list[:c] {
		if k.standing(now) {
			return true
		}
	}
	return false
}

// updateWindow refreshes each class's mean wait and rejection rate at the
// end of a controller window of length d. Called with Limiter.cmu held.
func (cs *classSet) updateWindow(d time.Duration) {
	for _, k := range cs.list {
		adm, wns := k.admitted.Load(), k.waitNs.Load()
		var rej uint64
		for i := range k.rejected {
			rej += k.rejected[i].Load()
		}
		if n := adm - k.lastAdmitted; n > 0 {
			w := float64(wns-k.lastWaitNs) / float64(n)
			if k.lastAdmitted == 0 {
				k.meanWait = w
			} else {
				k.meanWait = 0.7*k.meanWait + 0.3*w
			}
		}
		r := 0.5*math.Float64frombits(k.rejRate.Load()) + 0.5*float64(rej-k.lastRejected)/d.Seconds()
		k.rejRate.Store(math.Float64bits(r))
		k.lastAdmitted, k.lastWaitNs, k.lastRejected = adm, wns, rej
	}
}

// waiter is one queued request. Waiters are pooled; a waiter whose timer
// may still fire is never put back.
type waiter struct {
	l          *Limiter
	k          *class
	prev, next *waiter
	ch         chan Reason // buffered: exactly one send per wait
	timer      Timer
	deadline   time.Time
	enq        time.Time
	reason     Reason // what the timer's expiry means: timeout or deadline
	queued     bool
	byTimer    bool
}

// expire is the waiter's timer function.
func (w *waiter) expire() {
	l := w.l
	l.mu.Lock()
	if w.queued {
		w.byTimer = true
		l.finish(w, w.reason, l.now())
	}
	l.mu.Unlock()
}

// wait is Acquire's slow path: admit, reject or queue under mu, then block.
func (l *Limiter) wait(c int, deadline, now time.Time) (Token, Reason) {
	l.mu.Lock()
	cs := l.classes.Load() // Reconfigure may have swapped it
	if uint(c) >= uint(len(cs.list)) || l.closed.Load() {
		l.mu.Unlock()
		return Token{}, ReasonClosed
	}
	k := cs.list[c]
	if now.IsZero() {
		now = l.now()
	}
	ns := now.UnixNano()
	if !cs.waitingAtOrAbove(c) && l.tryInc() {
		l.mu.Unlock()
		k.admitted.Add(1)
		return Token{l: l, epoch: l.epoch.Load()}, ReasonNone
	}
	budget, why, r := l.budget(cs, c, deadline, now)
	if r != ReasonNone {
		if r == ReasonQueueFull {
			l.drainBelow(c, now)
		}
		l.mu.Unlock()
		if r == ReasonQueueFull {
			l.loss(c)
		}
		return Token{}, k.reject(r)
	}
	w := l.pool.Get().(*waiter)
	w.k, w.deadline, w.enq, w.reason, w.byTimer = k, deadline, now, why, false
	l.enqueue(w, ns)
	if k.standing(ns) {
		for _, lower := range cs.list[c+1:] {
			l.drainClass(lower, ReasonShed, now)
		}
	}
	l.dispatch(cs, now)
	armed := w.queued
	if armed {
		if w.timer == nil {
			w.timer = l.afterFunc(budget, w.expire)
		} else {
			w.timer.Reset(budget)
		}
	}
	l.mu.Unlock()
	r = <-w.ch
	if !armed || w.timer.Stop() || w.byTimer {
		w.k, w.deadline = nil, time.Time{}
		l.pool.Put(w)
	}
	if r != ReasonNone {
		return Token{}, r
	}
	return Token{l: l, epoch: l.epoch.Load()}, ReasonNone
}

// budget decides, under mu, whether class c may queue and for how long:
// the wait bound, the reason its expiry will give, or a rejection reason.
func (l *Limiter) budget(cs *classSet, c int, deadline, now time.Time) (time.Duration, Reason, Reason) {
	k := cs.list[c]
	ns := now.UnixNano()
	if k.depth.Load() >= k.maxQueue.Load() {
		return 0, 0, ReasonQueueFull
	}
	if cs.standingAbove(c, ns) {
		return 0, 0, ReasonShed
	}
	budget, why := time.Duration(k.maxWait.Load()), ReasonTimeout
	if l.wouldOutwait(cs, c, budget) {
		return 0, 0, ReasonQueueFull
	}
	if k.standing(ns) && c > 0 && c >= cs.marginalClass(l.level.Load()) { // see Config.OverloadWait
		budget = min(budget, l.overloadWait)
	}
	if !deadline.IsZero() {
		left := deadline.Sub(now) - time.Duration(l.minRTT.Load())
		if left <= 0 {
			return 0, 0, ReasonDeadline
		}
		if left < budget {
			budget, why = left, ReasonDeadline
		}
	}
	return budget, why, ReasonNone
}

// wouldOutwait reports whether a request of class c joining now would, at
// the current drain rate, wait longer than budget behind the requests
// queued in its class and above it. Such a request is rejected at once
// instead of after budget: rejections stay fast (milliseconds) while the
// requests that do queue are the ones that will be served. Called with mu
// held. Without a drain rate yet (no completions), it never rejects.
func (l *Limiter) wouldOutwait(cs *classSet, c int, budget time.Duration) bool {
	rate := math.Float64frombits(l.drain.Load())
	if rate <= 0 {
		return false
	}
	ahead := 1.0
	for _, k := range cs.list[:c+1] {
		ahead += float64(k.depth.Load())
	}
	return ahead/rate > budget.Seconds()
}

// enqueue appends w to its class queue. Called with mu held.
func (l *Limiter) enqueue(w *waiter, now int64) {
	k := w.k
	w.prev, w.next = k.tail, nil
	if k.tail != nil {
		k.tail.next = w
	} else {
		k.head = w
	}
	k.tail = w
	if k.depth.Add(1) == 1 {
		k.since.Store(max(now, 1))
	}
	w.queued = true
	l.waiting.Add(1)
}

// finish takes w off its queue and hands it r: a slot (ReasonNone) or a
// rejection. Called with mu held; the send is w's last use here.
func (l *Limiter) finish(w *waiter, r Reason, now time.Time) {
	k := w.k
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		k.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		k.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	if k.depth.Add(-1) == 0 {
		if ns := now.UnixNano(); k.standing(ns) {
			k.stoodUntil.Store(ns + k.lifoAfter.Load())
		}
		k.since.Store(0)
	}
	l.waiting.Add(-1)
	switch r {
	case ReasonNone:
		k.admitted.Add(1)
		k.waitNs.Add(int64(now.Sub(w.enq)))
	case ReasonTimeout, ReasonDeadline:
		l.loss(k.index)
		l.drainBelow(k.index, now)
		fallthrough
	default:
		k.rejected[r].Add(1)
	}
	w.ch <- r
}

// dispatch hands free slots to waiters, highest class first. Called with mu
// held after anything that may free a slot or raise the limit.
func (l *Limiter) dispatch(cs *classSet, now time.Time) {
	for l.waiting.Load() > 0 {
		if !l.tryInc() {
			return
		}
		w := l.next(cs, now)
		if w == nil {
			l.inflight.Add(-1)
			return
		}
		l.finish(w, ReasonNone, now)
	}
}

// next returns the waiter that gets the next slot: from the highest class
// with waiters, the oldest while its queue drains, the newest once it is a
// standing queue (adaptive LIFO). Waiters whose deadline can no longer be
// met are dropped on the way. Called with mu held.
func (l *Limiter) next(cs *classSet, now time.Time) *waiter {
	rtt := time.Duration(l.minRTT.Load())
	ns := now.UnixNano()
	for _, k := range cs.list {
		for k.head != nil {
			w := k.head
			if k.standing(ns) {
				w = k.tail
			}
			if !w.deadline.IsZero() && w.deadline.Sub(now) < rtt {
				l.finish(w, ReasonDeadline, now)
				continue
			}
			return w
		}
	}
	return nil
}

// drainBelow sheds the waiters of every class below c: c lost a request
// here or at another gateway, and strict priority gives a lower class no
// slot while a higher one loses; queued before the loss, they would take
// the next free slots (TestLossShedsLowerWaiters). Called with mu held.
func (l *Limiter) drainBelow(c int, now time.Time) {
	cs := l.classes.Load()
	if c+1 < len(cs.list) {
		for _, k := range cs.list[c+1:] {
			l.drainClass(k, ReasonShed, now)
		}
	}
}

// drainClass rejects every waiter of k with r. Called with mu held.
func (l *Limiter) drainClass(k *class, r Reason, now time.Time) {
	for k.head != nil {
		l.finish(k.head, r, now)
	}
}
