package upstream

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Target is one backend address with its own connection pool, health,
// breaker and counters. Pools built by NewPoolFrom share a kept target.
// It is safe for concurrent use.
type Target struct {
	addr     string
	maxConns int
	timeout  time.Duration
	client   *fasthttp.HostClient
	br       breaker

	pending  atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64

	// healthy is the active checks' verdict; true when none run.
	healthy atomic.Bool

	hcMu   sync.Mutex // guards hcRefs and hc
	hcRefs int        // started pools that hold the target
	hc     *checker   // running health checker, or nil
	hcGen  atomic.Uint64
}

func newTarget(addr string, maxConns int, timeout time.Duration) *Target {
	t := &Target{
		addr:     addr,
		maxConns: maxConns,
		timeout:  timeout,
		client: &fasthttp.HostClient{
			Addr:                      addr,
			MaxConns:                  maxConns,
			MaxConnWaitTimeout:        timeout,
			MaxIdemponentCallAttempts: 1, // retries are the pool's decision, never the client's
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			MaxIdleConnDuration:       30 * time.Second,
			ReadBufferSize:            16 << 10,
			Dial:                      dialTimed,
		},
	}
	t.healthy.Store(true)
	return t
}

// dialTimed dials as fasthttp does by default, with kernel receive
// timestamps on the connection where the platform has them (TimingOf).
func dialTimed(addr string) (net.Conn, error) {
	c, err := fasthttp.Dial(addr)
	if err != nil {
		return nil, err
	}
	return timed(c), nil
}

// Addr returns the target's host:port.
func (t *Target) Addr() string { return t.addr }

// Pending returns the number of requests in flight to the target.
func (t *Target) Pending() int64 { return t.pending.Load() }

// Requests returns the number of attempts sent to the target so far.
func (t *Target) Requests() uint64 { return t.requests.Load() }

// Failures returns the number of attempts that failed by the outlier
// rule's measure: no HTTP answer (connection error, reset, timeout, garbage)
// or a 5xx answer.
func (t *Target) Failures() uint64 { return t.failures.Load() }

// Ejections returns how many times the breaker opened.
func (t *Target) Ejections() uint64 { return t.br.ejections.Load() }

// Healthy reports the active health checks' verdict; true when none run.
func (t *Target) Healthy() bool { return t.healthy.Load() }

// Breaker returns the breaker's state; an open breaker whose ejection has
// run out reads as open until the next request turns it half-open.
func (t *Target) Breaker() BreakerState { return BreakerState(t.br.state.Load()) }

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

// available reports whether pick may choose the target at now.
func (t *Target) available(now int64, o *Outlier) bool {
	return t.healthy.Load() && t.br.available(now, o)
}

// outcome classifies one attempt for the breaker and for retries.
type outcome uint8

const (
	outcomeOK      outcome = iota // an answer below 500
	outcome5xx                    // an answer of 500 or more
	outcomeNotSent                // no connection: the request never left
	outcomeReset                  // connection closed or reset before any answer byte
	outcomeTimeout                // the deadline passed
	outcomeBad                    // a broken answer
	outcomeLocal                  // no free connection under the cap: not the target's fault
	outcomeRequest                // the request itself cannot be sent: the client's fault
)

// failed reports whether the outcome counts against the target: only what
// the target did (or failed to do) does; a request that could not be sent
// as it stands, or a cap of the gateway's own, does not, so that no client
// can eject a healthy target by sending requests the client library refuses.
func (o outcome) failed() bool { return o != outcomeOK && o != outcomeLocal && o != outcomeRequest }

// retryable reports whether an idempotent request may be tried again:
// after a failed connection or reset (no answer came) or a 502, 503 or 504
// answer (see retryStatus).
func (o outcome) retryable() bool {
	return o == outcomeNotSent || o == outcomeReset || o == outcomeLocal
}

// attempt sends req to t once, bounded by deadline, setting the deadline
// header when header is not nil.
func (t *Target) attempt(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, header []byte) (outcome, error) {
	if header != nil {
		var buf [20]byte
		ms := max(time.Until(deadline).Milliseconds(), 0)
		req.Header.SetBytesKV(header, strconv.AppendInt(buf[:0], ms, 10))
	}
	t.pending.Add(1)
	t.requests.Add(1)
	err := t.client.DoDeadline(req, resp, deadline)
	t.pending.Add(-1)
	o := outcomeOK
	if err != nil {
		o = classify(err)
	} else if resp.StatusCode() >= 500 {
		o = outcome5xx
	}
	if o.failed() {
		t.failures.Add(1)
	}
	if o == outcomeReset {
		// A kept-alive connection found closed: the target may have
		// restarted, and its other idle connections are as dead. Dial
		// afresh rather than fail a request on each of them.
		t.client.CloseIdleConnections()
	}
	return o, errorOf(o)
}

// errorOf maps an outcome onto the package's sentinels; nil for answers.
func errorOf(o outcome) error {
	switch o {
	case outcomeTimeout:
		return ErrTimeout
	case outcomeNotSent, outcomeLocal:
		return ErrUnavailable
	case outcomeReset:
		return ErrUnknownOutcome
	case outcomeBad:
		return ErrBadResponse
	case outcomeRequest:
		return ErrBadRequest
	}
	return nil
}

// classify maps a fasthttp client error onto an outcome.
func classify(err error) outcome {
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return outcomeLocal
	case isRequestError(err):
		return outcomeRequest
	case isDialError(err):
		return outcomeNotSent
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return outcomeTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return outcomeTimeout
	case errors.Is(err, fasthttp.ErrConnectionClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outcomeReset
	default:
		return outcomeBad
	}
}

func isDialError(err error) bool {
	var dialErr *fasthttp.ErrDialWithUpstream
	var opErr *net.OpError
	return errors.As(err, &dialErr) || errors.As(err, &opErr) && opErr.Op == "dial"
}

// isRequestError reports whether err says the request cannot be written as
// it stands (no Host anywhere, a scheme the target's client does not
// speak): the client library refuses it before any byte leaves.
func isRequestError(err error) bool {
	if errors.Is(err, fasthttp.ErrHostClientRedirectToDifferentScheme) {
		return true
	}
	// fasthttp does not export the missing-Host error.
	return strings.Contains(err.Error(), "missing required host header")
}
