package gateway

import (
	"net"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"

	"shedgate/configs"
	"shedgate/internal/deadlines"
)

// connCap keeps the public listener's open connections at most max, so
// that idle keep-alive connections can never take the descriptors a new
// client, the admin listener or the upstreams need.
type connCap struct {
	max              int
	evicted, refused atomic.Uint64
	// closeShare is the thousandths of connections to close after their
	// next answer, to spread clients over a fleet (see rebalanceShare).
	closeShare atomic.Int64
	rebalanced atomic.Uint64 // connections closed so
}

// admit reports whether a connection just accepted may stay: below the
// cap, or once the longest idle ones were closed to make room.
func (c *connCap) admit(s *deadlines.Sweeper) bool {
	if s.Len() < c.max || c.evict(s) > 0 {
		return true
	}
	c.refused.Add(1)
	return false
}

// evict closes a batch of the longest idle connections (a 64th of the
// cap, at least one), so that a flood of new ones does not pay a scan of
// every connection each; it returns how many it closed.
func (c *connCap) evict(s *deadlines.Sweeper) int {
	n := s.EvictIdle(max(1, c.max/64))
	c.evicted.Add(uint64(n))
	return n
}

// maxConns is server.max_conns, or, for 0, the process's descriptor limit
// less a reserve for the admin listener and the upstreams.
func maxConns(cfg *configs.Config) int {
	if cfg.Server.MaxConns > 0 {
		return cfg.Server.MaxConns
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 20
	}
	reserve := 256
	for _, u := range cfg.Upstreams {
		reserve += u.MaxConnsPerTarget * len(u.Targets)
	}
	return max(int(lim.Cur)-reserve, int(lim.Cur)/2, 64)
}

// connState tells the sweeper which public connections are idle (waiting
// for their next request), the ones a cap evicts first.
func (g *Gateway) connState(c net.Conn, st fasthttp.ConnState) {
	if dc, ok := c.(*deadlines.Conn); ok {
		dc.SetIdle(st == fasthttp.StateIdle)
	}
}
