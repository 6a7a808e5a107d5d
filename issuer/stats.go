package issuer

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the issuer's counters, as GET /stats on the admin listener
// reports them. Counts are since the start or the last reset.
type Stats struct {
	Served         int64            `json:"served"`          // answers sent
	Received       int64            `json:"received"`        // requests received
	Queued         int64            `json:"queued"`          // now waiting for a worker
	InFlight       int64            `json:"in_flight"`       // now received and not yet answered
	MaxInFlight    int64            `json:"max_in_flight"`   // highest InFlight
	Hung           int64            `json:"hung"`            // now held by the hang fault
	Workers        int64            `json:"workers"`         // the worker count now
	Ops            map[string]int64 `json:"ops"`             // requests received per operation
	Scans          int64            `json:"scans"`           // samples registered
	Duplicates     int64            `json:"duplicates"`      // non-idempotent requests seen again
	CodesAgain     int64            `json:"codes_again"`     // code requests for a code issued before, still valid: a cache in front could have answered
	ErrorsInjected int64            `json:"errors_injected"` // 500s from the error-rate fault
	AnswersDropped int64            `json:"answers_dropped"` // applied, then the answer lost (drop-rate fault)
	// IdempotentReplays counts requests whose Idempotency-Key was seen
	// before: answered with the first answer, not applied again.
	IdempotentReplays int64          `json:"idempotent_replays"`
	LatencyMs         LatencySummary `json:"latency_ms"`
	// BusyMs is the time workers spent holding jobs, NominalMs the service
	// times asked of them (the capacity model's); BusyMs is larger when a
	// busy machine fires the workers' timers late.
	BusyMs    float64      `json:"busy_ms"`
	NominalMs float64      `json:"nominal_ms"`
	Faults    FaultsStatus `json:"faults"`
}

// counters are the live values behind Stats; every method is safe for
// concurrent use.
type counters struct {
	received, served, inFlight, maxInFlight, hung atomic.Int64
	scans, duplicates, errorsInjected, codesAgain atomic.Int64
	answersDropped, idemReplays                   atomic.Int64
	ops                                           [numOps]atomic.Int64
	latency                                       histogram
	requestIDs                                    seenSet // X-Request-Id of non-idempotent requests
	samples                                       seenSet // sample_id of registered scans
}

// begin counts a received request of operation o.
func (c *counters) begin(o op) {
	c.received.Add(1)
	c.ops[o].Add(1)
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			return
		}
	}
}

// answered counts an answer sent d after its request was received.
func (c *counters) answered(d time.Duration) {
	c.served.Add(1)
	c.latency.record(d)
}

// reset zeroes the counts, the latency histogram and the sets of seen
// request and sample IDs, and lowers MaxInFlight to InFlight.
func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.received, &c.served, &c.scans, &c.duplicates, &c.errorsInjected, &c.codesAgain} {
		v.Store(0)
	}
	for i := range c.ops {
		c.ops[i].Store(0)
	}
	c.maxInFlight.Store(c.inFlight.Load())
	c.latency.reset()
	c.requestIDs.reset()
	c.samples.reset()
}

// Stats returns a snapshot of the counters. It is safe for concurrent use.
func (s *Issuer) Stats() Stats {
	c := &s.stats
	queued, workers := s.pool.sizes()
	ops := make(map[string]int64, numOps)
	for i := range c.ops {
		ops[opNames[i]] = c.ops[i].Load()
	}
	return Stats{
		Served:         c.served.Load(),
		Received:       c.received.Load(),
		Queued:         int64(queued),
		InFlight:       c.inFlight.Load(),
		MaxInFlight:    c.maxInFlight.Load(),
		Hung:           c.hung.Load(),
		Workers:        int64(workers),
		Ops:            ops,
		Scans:          c.scans.Load(),
		Duplicates:     c.duplicates.Load(),
		CodesAgain:     c.codesAgain.Load(),
		ErrorsInjected: c.errorsInjected.Load(), AnswersDropped: c.answersDropped.Load(),
		IdempotentReplays: c.idemReplays.Load(),
		LatencyMs:         c.latency.summary(),
		BusyMs:            float64(s.pool.busy.Load()) / 1e6,
		NominalMs:         float64(s.pool.nominal.Load()) / 1e6,
		Faults:            s.faultsStatus(),
	}
}

// ResetStats zeroes the counters, the workers' busy time and the latency
// histogram, forgets the request and sample IDs seen, and lowers
// max_in_flight to the current in_flight. It is safe for concurrent use.
func (s *Issuer) ResetStats() {
	s.stats.reset()
	s.pool.busy.Store(0)
	s.pool.nominal.Store(0)
}

// seenSet remembers 64-bit hashes of byte strings. It is safe for
// concurrent use; its zero value is ready.
type seenSet struct {
	mu   sync.Mutex // guards seed and m
	seed maphash.Seed
	m    map[uint64]struct{}
}

// add records b and reports whether it was recorded before.
func (s *seenSet) add(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.seed = maphash.MakeSeed()
		s.m = make(map[uint64]struct{})
	}
	h := maphash.Bytes(s.seed, b)
	_, seen := s.m[h]
	s.m[h] = struct{}{}
	return seen
}

func (s *seenSet) reset() {
	s.mu.Lock()
	s.m = nil
	s.mu.Unlock()
}
