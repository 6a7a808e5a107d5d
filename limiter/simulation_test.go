package limiter

import (
	"container/heap"
	"testing"
	"time"
)

// simBackend models the issuer: workers serving a FIFO queue, each request
// holding a worker for service (× uniform noise). While in-flight <= workers
// the RTT is the service time; beyond, it grows linearly with in-flight.
type simBackend struct {
	service time.Duration
	free    []time.Duration // when each worker is next free
	noise   float64         // service × U(1-noise, 1+noise)
	hang    bool            // every request times out
	fail    bool            // every request fails fast (a 503 after 1ms)
	timeout time.Duration
	rng     uint64
}

func newSimBackend(workers int, service time.Duration) *simBackend {
	return &simBackend{service: service, free: make([]time.Duration, workers), timeout: 2 * time.Second, rng: 42}
}

func (b *simBackend) setWorkers(n int, now time.Duration) {
	for len(b.free) < n {
		b.free = append(b.free, now)
	}
	b.free = b.free[:n]
}

// serve returns when a request arriving at now completes, and how.
func (b *simBackend) serve(now time.Duration) (time.Duration, Outcome) {
	if b.hang {
		return now + b.timeout, OutcomeOverload
	}
	if b.fail {
		return now + time.Millisecond, OutcomeOverload
	}
	i := 0
	for j, f := range b.free {
		if f < b.free[i] {
			i = j
		}
	}
	s := b.service
	if b.noise > 0 {
		b.rng ^= b.rng << 13
		b.rng ^= b.rng >> 7
		b.rng ^= b.rng << 17
		u := float64(b.rng>>11) / (1 << 53)
		s = time.Duration(float64(s) * (1 - b.noise + 2*b.noise*u))
	}
	b.free[i] = max(b.free[i], now) + s
	return b.free[i], OutcomeOK
}

type simDone struct {
	at, start time.Duration
	answered  time.Duration // when the backend answered (at, less any delay after it); prioSim only
	rx        time.Duration // when the answer reached the gateway's kernel; 0: time by at alone
	tok       Token
	out       Outcome
}

func (d simDone) when() time.Duration { return d.at }

// timeHeap is a container/heap of simulated events, earliest first.
type timeHeap[T interface{ when() time.Duration }] []T

func (h timeHeap[T]) Len() int           { return len(h) }
func (h timeHeap[T]) Less(i, j int) bool { return h[i].when() < h[j].when() }
func (h timeHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap[T]) Push(x any)        { *h = append(*h, x.(T)) }
func (h *timeHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sim drives a Limiter (one class, no queue: what finds no slot is
// rejected) with open-loop arrivals at a constant rate against a
// simBackend, in simulated time.
type sim struct {
	clk   *fakeClock
	base  time.Time
	l     *Limiter
	be    *simBackend
	now   time.Duration
	next  time.Duration // next arrival
	done  timeHeap[simDone]
	stats Stats
	limit int // the last limit seen outside a probe
}

func newSim(t *testing.T, initial int, be *simBackend) *sim {
	t.Helper()
	clk := newFakeClock()
	l, err := New(Config{
		InitialLimit: initial,
		Classes:      []ClassConfig{{Name: "all"}},
		Now:          clk.Now,
		AfterFunc:    clk.AfterFunc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &sim{clk: clk, base: clk.Now(), l: l, be: be, limit: initial}
}

// phase is what one run measured.
type phase struct {
	d        time.Duration
	limits   []int // the limit every 100ms
	ticks    []int // OK completions in each 100ms
	tickRTT  []time.Duration
	served   int // OK completions
	rttSum   time.Duration
	rejected int
	maxIn    int
}

// run offers rps for d.
func (s *sim) run(d time.Duration, rps float64) phase {
	p := phase{d: d}
	end := s.now + d
	gap := time.Duration(float64(time.Second) / rps)
	if s.next < s.now {
		s.next = s.now
	}
	tick := s.now + 100*time.Millisecond
	last, lastRTT := 0, time.Duration(0)
	for {
		t := min(s.next, tick, end)
		if len(s.done) > 0 && s.done[0].at < t {
			t = s.done[0].at
		}
		s.now = t
		s.clk.Set(s.base.Add(t))
		for len(s.done) > 0 && s.done[0].at <= t {
			e := heap.Pop(&s.done).(simDone)
			e.tok.Release(e.at-e.start, e.out)
			if e.out == OutcomeOK {
				p.served++
				p.rttSum += e.at - e.start
			}
		}
		for s.next <= t {
			s.next += gap
			tok, r := s.l.Acquire(0, 0, time.Time{})
			if r != ReasonNone {
				p.rejected++
				continue
			}
			at, out := s.be.serve(t)
			heap.Push(&s.done, simDone{at: at, start: t, tok: tok, out: out})
			p.maxIn = max(p.maxIn, len(s.done))
		}
		if t == tick {
			// The limit found, not a probe's temporary cap.
			s.l.Stats(&s.stats)
			if !s.stats.Probing {
				s.limit = s.stats.Limit
			}
			p.limits = append(p.limits, s.limit)
			p.ticks = append(p.ticks, p.served-last)
			p.tickRTT = append(p.tickRTT, p.rttSum-lastRTT)
			last, lastRTT = p.served, p.rttSum
			tick += 100 * time.Millisecond
		}
		if t == end {
			return p
		}
	}
}

// sub returns the part of p from 'from' to its end.
func (p phase) sub(from time.Duration) phase {
	i := int(from / (100 * time.Millisecond))
	q := phase{d: p.d - from, limits: p.limits[i:], ticks: p.ticks[i:], tickRTT: p.tickRTT[i:]}
	for j, n := range q.ticks {
		q.served += n
		q.rttSum += q.tickRTT[j]
	}
	return q
}

// settle returns when the limit entered [lo, hi] for good, or -1 if it
// ends outside.
func (p phase) settle(lo, hi int) time.Duration {
	i := len(p.limits)
	for i > 0 && p.limits[i-1] >= lo && p.limits[i-1] <= hi {
		i--
	}
	if i == len(p.limits) {
		return -1
	}
	return time.Duration(i) * 100 * time.Millisecond
}

// meanLimit is the mean limit over the phase from 'from' on.
func (p phase) meanLimit(from time.Duration) float64 {
	s, n := 0, 0
	for _, l := range p.limits[int(from/(100*time.Millisecond)):] {
		s += l
		n++
	}
	return float64(s) / float64(max(n, 1))
}

func (p phase) rate() float64 { return float64(p.served) / p.d.Seconds() }

func (p phase) meanRTT() time.Duration {
	return p.rttSum / time.Duration(max(p.served, 1))
}

func (p phase) minMax(from time.Duration) (lo, hi int) {
	lo = 1 << 30
	for _, l := range p.limits[int(from/(100*time.Millisecond)):] {
		lo, hi = min(lo, l), max(hi, l)
	}
	return lo, hi
}
