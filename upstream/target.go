package upstream

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Target is one backend address with its own connection pool and counters.
// It is safe for concurrent use.
type Target struct {
	addr     string
	maxConns int
	timeout  time.Duration
	client   *fasthttp.HostClient
	pending  atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
}

func newTarget(addr string, maxConns int, timeout time.Duration) *Target {
	return &Target{
		addr:     addr,
		maxConns: maxConns,
		timeout:  timeout,
		client: &fasthttp.HostClient{
			Addr:                      addr,
			MaxConns:                  maxConns,
			MaxConnWaitTimeout:        timeout,
			MaxIdemponentCallAttempts: 1, // retries are the gateway's decision, never the client's
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			MaxIdleConnDuration:       30 * time.Second,
			ReadBufferSize:            16 << 10,
		},
	}
}

// Addr returns the target's host:port.
func (t *Target) Addr() string { return t.addr }

// Pending returns the number of requests in flight to the target.
func (t *Target) Pending() int64 { return t.pending.Load() }

// Requests returns the number of requests sent to the target so far.
func (t *Target) Requests() uint64 { return t.requests.Load() }

// Failures returns the number of attempts that ended without an HTTP answer.
func (t *Target) Failures() uint64 { return t.failures.Load() }

// Drain waits until no request is in flight to the target (at most
// timeout), then closes its idle connections. A target removed by a reload
// is drained, not cut.
func (t *Target) Drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for t.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.client.CloseIdleConnections()
}

// Conns returns the number of open connections to the target.
func (t *Target) Conns() int { return t.client.ConnsCount() }

func (t *Target) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	t.pending.Add(1)
	t.requests.Add(1)
	err := t.client.DoDeadline(req, resp, deadline)
	t.pending.Add(-1)
	if err != nil {
		t.failures.Add(1)
		return classify(err)
	}
	return nil
}

// classify maps a fasthttp client error onto the package's sentinels.
func classify(err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return ErrTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnectionClosed):
		return ErrUnavailable
	case isDialError(err):
		return ErrUnavailable
	default:
		return ErrBadResponse
	}
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
