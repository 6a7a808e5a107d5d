package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is a parsed base URL.
type target struct {
	url   string // as given, without a trailing slash
	host  string // host:port
	isTLS bool
}

// parseTarget parses a base URL http(s)://host[:port] with no path.
func parseTarget(s string) (target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("bad URL %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return target{}, fmt.Errorf("bad URL %q: want http://host:port or https://host:port", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return target{}, fmt.Errorf("bad URL %q: want a base URL with no path, query or user", s)
	}
	t := target{url: u.Scheme + "://" + u.Host, host: u.Host, isTLS: u.Scheme == "https"}
	if u.Port() == "" {
		port := "80"
		if t.isTLS {
			port = "443"
		}
		t.host = net.JoinHostPort(u.Hostname(), port)
	}
	return t, nil
}

// parseTargets parses a comma-separated list of base URLs (each as
// parseTarget wants it): a run sends its tries to them in turn.
func parseTargets(s string) ([]target, error) {
	urls := strings.Split(s, ",")
	ts := make([]target, 0, len(urls))
	for i, u := range urls {
		t, err := parseTarget(strings.TrimSpace(u))
		if err != nil {
			if len(urls) > 1 {
				err = fmt.Errorf("target %d of %d: %w", i+1, len(urls), err)
			}
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// doer sends one try; *fasthttp.HostClient and *fasthttp.PipelineClient
// are doers.
type doer interface {
	DoTimeout(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error
}

// Interface guards.
var (
	_ doer = (*fasthttp.HostClient)(nil)
	_ doer = (*fasthttp.PipelineClient)(nil)
	_ doer = (*spread)(nil)
)

// newDoer returns the client a run sends its tries with: one target's,
// or a spread over several.
func newDoer(ts []target, o Options, timeout time.Duration) doer {
	one := func(t target) doer {
		if o.Pipeline > 0 {
			return newPipelineClient(t, o.Connections, o.Pipeline)
		}
		return newHostClient(t, o.Connections, timeout)
	}
	if len(ts) == 1 {
		return one(ts[0])
	}
	s := &spread{}
	for _, t := range ts {
		s.doers = append(s.doers, one(t))
	}
	return s
}

// spread sends each try to the next of several targets in turn, as a
// balancer in front of them with many clients would: the same number of
// tries to each, whatever they answer. One target address shared by
// several processes (SO_REUSEPORT, or an L4 balancer passing connections
// through) does not do that with this harness: its one pool reuses
// whichever connection frees first, so a process that answers faster
// (sheds more) gets more of the tries. Measured with three gateways on
// one port in a surge: the gateway shedding the most got 46% of class
// normal's tries.
type spread struct {
	doers []doer
	next  atomic.Uint64
}

func (s *spread) DoTimeout(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	return s.doers[s.next.Add(1)%uint64(len(s.doers))].DoTimeout(req, resp, timeout)
}

// hostClients returns d's HostClients: d itself, or a spread's.
func hostClients(d doer) []*fasthttp.HostClient {
	switch d := d.(type) {
	case *fasthttp.HostClient:
		return []*fasthttp.HostClient{d}
	case *spread:
		var hcs []*fasthttp.HostClient
		for _, e := range d.doers {
			if hc, ok := e.(*fasthttp.HostClient); ok {
				hcs = append(hcs, hc)
			}
		}
		return hcs
	}
	return nil
}

// newPipelineClient returns a fasthttp client of t that pipelines up to
// depth requests on each of at most conns connections.
func newPipelineClient(t target, conns, depth int) *fasthttp.PipelineClient {
	c := &fasthttp.PipelineClient{
		Addr:                   t.host,
		IsTLS:                  t.isTLS,
		Name:                   "shedgate-loadtest",
		MaxConns:               conns,
		MaxPendingRequests:     depth,
		MaxIdleConnDuration:    5 * time.Second,
		DisablePathNormalizing: true,
		ReadBufferSize:         64 << 10,
		WriteBufferSize:        64 << 10,
	}
	if dial := loopbackDialer(t); dial != nil {
		c.Dial = func(addr string) (net.Conn, error) { return dial(addr, 3*time.Second) }
	}
	return c
}

// newHostClient returns a fasthttp client of t with at most conns
// connections. It never retries on its own (the harness counts every try),
// and a try that finds every connection busy waits for one within its own
// timeout (counted as a timeout when none frees).
func newHostClient(t target, conns int, maxTimeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      t.host,
		IsTLS:                     t.isTLS,
		Name:                      "shedgate-loadtest",
		MaxConns:                  conns,
		MaxConnWaitTimeout:        maxTimeout,
		MaxIdleConnDuration:       5 * time.Second,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true,
		NoDefaultUserAgentHeader:  false,
		ReadBufferSize:            8192,
		WriteBufferSize:           8192,
		DialTimeout:               loopbackDialer(t),
	}
}

// loopbackSources is how many source addresses, from 127.0.0.2 on,
// connections to a loopback target come from.
const loopbackSources = 250

// loopbackDialer returns, for a target on an IPv4 loopback address, a
// dialer that spreads connections over loopbackSources source addresses;
// nil (fasthttp's dialer) for other targets. A collapsing target makes
// every try time out and its connection close, so the harness dials
// thousands of connections a second; from a single source address the
// kernel then spends most of the machine's CPU searching for a free
// ephemeral port (measured: 90% of the harness's CPU in connect(2) at
// 7,500 dials/s), and the harness, not the target, sets the numbers.
func loopbackDialer(t target) fasthttp.DialFuncWithTimeout {
	host, _, err := net.SplitHostPort(t.host)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	var next atomic.Uint32
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		i := next.Add(1) % loopbackSources
		d := net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))},
			Control:   bindAddressNoPort,
		}
		return d.Dial("tcp4", addr)
	}
}

// classify returns the outcome of a try and its status for the report:
// the HTTP status, or statusTimeout or statusConnError when there was no
// answer. okStatus lists statuses besides 2xx that count as ok.
func classify(resp *fasthttp.Response, err error, okStatus []int) (outcome, int) {
	if err != nil {
		if isTimeout(err) {
			return outTimeout, statusTimeout
		}
		return outError, statusConnError
	}
	st := resp.StatusCode()
	switch {
	case st >= 200 && st < 300:
		return outOK, st
	case st == fasthttp.StatusTooManyRequests || st == fasthttp.StatusServiceUnavailable:
		return outShed, st
	}
	for _, s := range okStatus {
		if s == st {
			return outOK, st
		}
	}
	return outError, st
}

// isTimeout reports whether err means the try ran out of time, waiting
// for a connection, a dial or an answer.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, fasthttp.ErrNoFreeConns) || errors.As(err, &ne) && ne.Timeout()
}

// warmUp opens n connections of hc at once and returns them to its idle
// pool, so that the first second of a run does not pay a dial per request
// (at tens of thousands of requests a second, those dials pile up and the
// harness falls behind its schedule before it gets going). It sends no
// request; failures are ignored (the run will meet them).
func warmUp(hc *fasthttp.HostClient, n int, timeout time.Duration) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cc, err := hc.AcquireConn(timeout, false); err == nil {
				hc.ReleaseConn(cc)
			}
		}()
	}
	wg.Wait()
}

// warmConns returns how many connections to open before a run that starts
// at rate requests a second: one per 500 requests a second, at least 16,
// at most 256 and at most conns.
func warmConns(rate float64, conns int) int {
	return min(conns, max(16, min(256, int(rate/500))))
}
