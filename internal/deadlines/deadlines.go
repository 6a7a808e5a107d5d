// Package deadlines enforces connection read and write deadlines with one
// sweep over all connections every tick instead of one runtime timer per
// deadline. Holding every connection, it also closes the longest idle
// ones when asked to make room (EvictIdle).
//
// Why: fasthttp sets three deadlines for every request on a keep-alive
// connection (the idle wait, the request read, the response write). Each
// is a runtime timer moved under the poller's lock; measured on a cache
// hit pinned to one core, those moves cost the gateway 5-8% of its hit
// throughput against the same server without timeouts. Servers built for
// this load keep coarse timers for the same reason: nginx and HAProxy
// cache the time and check expiries in their event loop rather than arm a
// kernel or runtime timer per operation.
//
// How: Conn records each deadline in an atomic (nanoseconds since the
// Sweeper's start, monotonic) and arms nothing. Every tick the Sweeper
// walks the connections and, for a deadline that has passed, sets the
// real deadline to the past, which ends a blocked Read or Write with
// os.ErrDeadlineExceeded as a runtime timer would have. A deadline set
// again after that clears the forced one. So a deadline fires between 0
// and one tick late, never early; a deadline already in the past when it
// is set is applied at once.
package deadlines

import (
	"cmp"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// past is the real deadline a sweep sets to end a blocked call.
var past = time.Unix(1, 0)

// Sweeper holds the connections it enforces deadlines on.
type Sweeper struct {
	every time.Duration
	epoch time.Time    // with its monotonic reading
	now   atomic.Int64 // nanoseconds since epoch at the last sweep

	mu    sync.Mutex
	conns []*Conn

	fired atomic.Uint64 // deadlines forced by sweeps
}

// New returns a Sweeper that checks deadlines every tick. Run starts it.
func New(every time.Duration) *Sweeper {
	s := &Sweeper{every: every, epoch: time.Now()}
	s.now.Store(1) // a deadline before the epoch is past from the start
	return s
}

// Run sweeps every tick until stop is closed.
func (s *Sweeper) Run(stop <-chan struct{}) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep ends the blocked calls whose deadline has passed. Run calls it
// every tick; tests call it directly.
func (s *Sweeper) Sweep() {
	now := int64(time.Since(s.epoch))
	s.now.Store(now)
	var due []*Conn
	s.mu.Lock()
	for _, c := range s.conns {
		if c.read.due(now) || c.write.due(now) {
			due = append(due, c)
		}
	}
	s.mu.Unlock()
	for _, c := range due {
		c.fire(now)
	}
}

// Len is how many connections the Sweeper holds.
func (s *Sweeper) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Wrap returns c with its deadlines enforced by s. Closing the result
// removes it from s and then calls closeFn (c.Close when nil).
func (s *Sweeper) Wrap(c *net.TCPConn, closeFn func(*net.TCPConn) error) *Conn {
	w := &Conn{TCPConn: c, s: s, closeFn: closeFn}
	s.mu.Lock()
	w.idx = len(s.conns)
	s.conns = append(s.conns, w)
	s.mu.Unlock()
	return w
}

func (s *Sweeper) remove(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := c.idx
	if i < 0 {
		return
	}
	last := len(s.conns) - 1
	s.conns[i] = s.conns[last]
	s.conns[i].idx = i
	s.conns[last] = nil
	s.conns = s.conns[:last]
	c.idx = -1
}

// since returns t as nanoseconds since the epoch; 0 for the zero time.
func (s *Sweeper) since(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(int64(t.Sub(s.epoch)), 1)
}

// deadline is one direction's state.
type deadline struct {
	at     atomic.Int64 // nanoseconds since the epoch; 0: none
	forced atomic.Bool  // the real deadline is set to the past
}

func (d *deadline) due(now int64) bool {
	at := d.at.Load()
	return at != 0 && at <= now && !d.forced.Load()
}

// Conn is a TCP connection whose deadlines a Sweeper enforces.
type Conn struct {
	*net.TCPConn
	s       *Sweeper
	idx     int // in s.conns; -1 once removed; guarded by s.mu
	closeFn func(*net.TCPConn) error

	mu          sync.Mutex // orders forcing against clearing
	read, write deadline
	closed      bool // guarded by mu

	// idleSince is when the connection began waiting for its next
	// request (nanoseconds since the Sweeper's epoch, as of its last
	// sweep); 0 while a request is in progress or before the first.
	idleSince atomic.Int64
}

// SetIdle marks c as waiting for its next request (idle) or serving one.
func (c *Conn) SetIdle(idle bool) {
	if idle {
		c.idleSince.Store(c.s.now.Load()) // the last sweep's time: no clock read
	} else {
		c.idleSince.Store(0)
	}
}

// EvictIdle closes up to n of the connections that have been idle the
// longest (marked by SetIdle), at once and without a lingering close, and
// returns how many it closed. A request arriving on one as it closes is
// lost: the price of room under a cap, as nginx pays it for its keep-alive
// connections when it runs out.
func (s *Sweeper) EvictIdle(n int) int {
	s.mu.Lock()
	var idle []*Conn
	for _, c := range s.conns {
		if c.idleSince.Load() != 0 {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	if len(idle) > n {
		slices.SortFunc(idle, func(a, b *Conn) int { return cmp.Compare(a.idleSince.Load(), b.idleSince.Load()) })
		idle = idle[:n]
	}
	closed := 0
	for _, c := range idle {
		if c.idleSince.Load() == 0 {
			continue // a request began meanwhile
		}
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		s.remove(c)
		c.TCPConn.Close() //nolint:errcheck // its server's read ends with the error
		closed++
	}
	return closed
}

// SetReadDeadline records t; a sweep enforces it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.set(&c.read, t, c.TCPConn.SetReadDeadline)
}

// SetWriteDeadline records t; a sweep enforces it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.set(&c.write, t, c.TCPConn.SetWriteDeadline)
}

// SetDeadline records t for both directions.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *Conn) set(d *deadline, t time.Time, real func(time.Time) error) error {
	at := c.s.since(t)
	d.at.Store(at)
	if at != 0 && at <= c.s.now.Load() {
		// Already past: apply it now, as a runtime timer would.
		c.mu.Lock()
		defer c.mu.Unlock()
		d.forced.Store(true)
		return real(past)
	}
	if d.forced.Load() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if d.forced.Load() {
			d.forced.Store(false)
			return real(time.Time{})
		}
	}
	return nil
}

// fire forces the deadlines of c that are still due at now.
func (c *Conn) fire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.force(&c.read, now, c.TCPConn.SetReadDeadline)
	c.force(&c.write, now, c.TCPConn.SetWriteDeadline)
}

// force sets d's real deadline to the past if d is due. It marks d forced
// before looking at its deadline again, so that a set racing with it
// either moved the deadline first (nothing is forced) or sees the mark
// and, waiting for mu, clears what was forced.
func (c *Conn) force(d *deadline, now int64, real func(time.Time) error) {
	at := d.at.Load()
	if at == 0 || at > now || d.forced.Load() {
		return
	}
	d.forced.Store(true)
	if d.at.Load() != at {
		d.forced.Store(false)
		return
	}
	c.s.fired.Add(1) // before the call it counts ends: a test reads it then
	real(past)       //nolint:errcheck // a closed connection has nothing to end
}

// Close removes c from its Sweeper and closes it.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.s.remove(c)
	if c.closeFn != nil {
		return c.closeFn(c.TCPConn)
	}
	return c.TCPConn.Close()
}
