package issuer

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxWorkers bounds the worker count.
const maxWorkers = 100000

// maxServiceTime bounds one request's computed service time.
const maxServiceTime = time.Hour

// job is one request waiting for a worker; done is closed when its service
// time has been spent.
type job struct {
	done chan struct{}
}

// workerPool is the capacity model: an unbounded FIFO queue of jobs in front
// of a changeable number of workers. A worker takes the oldest job, holds
// its slot for service(queued, workers) and closes the job's done channel.
// It is safe for concurrent use.
type workerPool struct {
	// service returns the time one job holds a worker, given the queue
	// length when the worker took it and the worker count.
	service func(queued, workers int) time.Duration
	stop    chan struct{} // closed by close: sleeping workers wake and exit
	// busy and nominal sum, in nanoseconds, the time workers held jobs and
	// the service times they were asked to hold them: busy over the
	// workers' wall time is their utilization, busy over nominal how much
	// a busy machine stretched the service time (late timers).
	busy, nominal atomic.Int64

	mu      sync.Mutex // guards the fields below
	cond    sync.Cond  // signalled on a new job, a worker count change, close
	queue   []*job     // FIFO from queue[head]
	head    int
	target  int // the worker count asked for
	running int // workers started and not yet exited
	closed  bool
}

func newWorkerPool(workers int, service func(queued, workers int) time.Duration) *workerPool {
	p := &workerPool{service: service, stop: make(chan struct{})}
	p.cond.L = &p.mu
	p.setWorkers(workers)
	return p
}

// submit appends j to the queue. It returns false after close.
func (p *workerPool) submit(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.queue = append(p.queue, j)
	p.cond.Signal()
	return true
}

// setWorkers changes the worker count. Extra workers start at once; surplus
// ones exit after their current job. Queued jobs are kept.
func (p *workerPool) setWorkers(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.target = n
	for p.running < p.target {
		p.running++
		go p.work()
	}
	p.cond.Broadcast()
}

// sizes returns the queue length and the worker count asked for.
func (p *workerPool) sizes() (queued, workers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) - p.head, p.target
}

// close stops the workers. Queued jobs are never done: their waiters must
// also watch the issuer's closing.
func (p *workerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.stop)
		p.cond.Broadcast()
	}
}

// work is one worker's loop.
func (p *workerPool) work() {
	p.mu.Lock()
	for {
		for !p.closed && p.running <= p.target && p.head == len(p.queue) {
			p.cond.Wait()
		}
		if p.closed || p.running > p.target {
			p.running--
			if p.head < len(p.queue) {
				p.cond.Signal() // pass a pending wake-up on to a worker that stays
			}
			p.mu.Unlock()
			return
		}
		j := p.popLocked()
		d := p.service(len(p.queue)-p.head, p.target)
		p.mu.Unlock()
		began := time.Now()
		if !p.hold(d) {
			return // closed: running no longer matters
		}
		p.busy.Add(int64(time.Since(began)))
		p.nominal.Add(int64(d))
		close(j.done)
		p.mu.Lock()
	}
}

// popLocked removes and returns the oldest job; the queue is not empty.
func (p *workerPool) popLocked() *job {
	j := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	switch {
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head >= 1024 && 2*p.head >= len(p.queue):
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return j
}

// hold spends d holding a worker slot. It returns false if the pool was
// closed meanwhile.
func (p *workerPool) hold(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// serviceTime is the capacity model's formula:
//
//	base × (1 + queued/(workers×growth)) + extra
//
// capped at maxServiceTime. base <= 0 means no base time.
func serviceTime(base time.Duration, growth float64, queued, workers int, extra time.Duration) time.Duration {
	d := float64(extra)
	if base > 0 {
		d += float64(base) * (1 + float64(queued)/(float64(max(workers, 1))*growth))
	}
	return time.Duration(min(d, float64(maxServiceTime)))
}
