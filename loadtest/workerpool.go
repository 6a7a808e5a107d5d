package loadtest

import (
	"sync"
	"sync/atomic"
)

// workerPool runs tries of logical requests on at most max goroutines,
// started on demand and kept until close. The dispatcher submits first
// tries and retry timers submit later tries, concurrently. Every logical
// request accepted is counted in outstanding until it finishes; close
// waits for them all.
type workerPool struct {
	jobs        chan job // unbuffered: a send succeeds when a worker is idle
	max         int64
	newWorker   func(id int) func(job) // returns a worker's job function
	inFlight    atomic.Int64           // tries submitted and not done
	started     atomic.Int64           // workers started
	maxInFlight atomic.Int64
	outstanding sync.WaitGroup // logical requests not finished
	workers     sync.WaitGroup
}

// newWorkerPool returns a pool of at most max workers made by newWorker.
func newWorkerPool(max int, newWorker func(id int) func(job)) *workerPool {
	return &workerPool{jobs: make(chan job), max: int64(max), newWorker: newWorker}
}

// submit hands a try to a worker at once and returns true, or returns
// false when max tries are already in flight: the caller counts it
// dropped. It never waits for a try to finish. It is safe for concurrent
// use.
func (p *workerPool) submit(j job) bool {
	n := p.inFlight.Add(1)
	if n > p.max {
		p.inFlight.Add(-1)
		return false
	}
	for m := p.maxInFlight.Load(); n > m && !p.maxInFlight.CompareAndSwap(m, n); m = p.maxInFlight.Load() {
	}
	select {
	case p.jobs <- j:
		return true
	default:
	}
	if id := p.started.Add(1); id <= p.max {
		p.workers.Add(1)
		go p.worker(int(id-1), &j)
		return true
	}
	// Every worker exists and fewer than max tries are in flight, so one
	// of them is between two tries: it takes this one in a moment.
	p.jobs <- j
	return true
}

// prestart starts n idle workers (at most max), so that the first
// second of a run does not pay for starting them. Call it before the
// first submit.
func (p *workerPool) prestart(n int) {
	for range min(int64(n), p.max) {
		id := p.started.Add(1)
		p.workers.Add(1)
		go p.worker(int(id-1), nil)
	}
}

// worker runs first (when not nil), then the tries it receives until
// close.
func (p *workerPool) worker(id int, first *job) {
	defer p.workers.Done()
	do := p.newWorker(id)
	if first != nil {
		do(*first)
		p.inFlight.Add(-1)
	}
	for j := range p.jobs {
		do(j)
		p.inFlight.Add(-1)
	}
}

// close waits for every logical request to finish, then stops the
// workers. Call it once, after the last first try was submitted.
func (p *workerPool) close() {
	p.outstanding.Wait()
	close(p.jobs)
	p.workers.Wait()
}
