// Package upstream sends requests to the backend targets of one named
// upstream: one fasthttp.HostClient per target, least-pending selection with
// random tie-breaks, a hard cap on connections per target and a per-attempt
// timeout.
//
// It knows nothing of routes, caching or admission: the gateway decides
// whether a request may go out, upstream only decides where it goes and how
// long it may take. It never retries on its own, so a non-idempotent request
// (a scan registration, a re-issue) reaches the backend at most once.
package upstream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Sentinel errors returned by Pool.Do. Callers map them to HTTP statuses.
var (
	// ErrTimeout means the attempt's deadline passed before an answer came.
	ErrTimeout = errors.New("upstream: timeout")
	// ErrUnavailable means no target could take the request (all full or
	// refusing connections).
	ErrUnavailable = errors.New("upstream: unavailable")
	// ErrBadResponse means the target answered something that is not HTTP.
	ErrBadResponse = errors.New("upstream: bad response")
)

// Config describes one upstream. Zero values mean the documented defaults.
type Config struct {
	// Name labels the upstream in metrics and errors.
	Name string
	// Targets are host:port addresses. At least one is required.
	Targets []string
	// Timeout bounds one attempt. Default 2s.
	Timeout time.Duration
	// MaxConnsPerTarget is a hard ceiling on open connections to each
	// target. Default 1024.
	MaxConnsPerTarget int
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Second
	}
	return c.Timeout
}

func (c *Config) maxConns() int {
	if c.MaxConnsPerTarget <= 0 {
		return 1024
	}
	return c.MaxConnsPerTarget
}

// Pool sends requests to the targets of one upstream.
// It is safe for concurrent use.
type Pool struct {
	name    string
	timeout time.Duration
	targets []*Target
}

// NewPool builds a pool for cfg. It dials nothing until the first request.
func NewPool(cfg Config) (*Pool, error) {
	return NewPoolFrom(nil, cfg)
}

// NewPoolFrom builds a pool for cfg that keeps prev's targets (and their
// open connections) where the address and settings are unchanged; prev
// may be nil. Targets of prev that the new pool does not keep are the
// caller's to drain (see Retired).
func NewPoolFrom(prev *Pool, cfg Config) (*Pool, error) {
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("upstream %q: no targets", cfg.Name)
	}
	p := &Pool{name: cfg.Name, timeout: cfg.timeout()}
	for _, addr := range cfg.Targets {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("upstream %q: target %q: %w", cfg.Name, addr, err)
		}
		t := prev.Target(addr)
		if t == nil || t.maxConns != cfg.maxConns() || t.timeout != p.timeout {
			t = newTarget(addr, cfg.maxConns(), p.timeout)
		}
		p.targets = append(p.targets, t)
	}
	return p, nil
}

// Target returns the pool's target for addr, or nil; p may be nil.
func (p *Pool) Target(addr string) *Target {
	if p == nil {
		return nil
	}
	for _, t := range p.targets {
		if t.addr == addr {
			return t
		}
	}
	return nil
}

// Retired returns the targets of prev that next does not keep; next may be
// nil (the whole upstream is gone).
func Retired(prev, next *Pool) []*Target {
	var out []*Target
	for _, t := range prev.targets {
		if next.Target(t.addr) != t {
			out = append(out, t)
		}
	}
	return out
}

// Name returns the upstream's name.
func (p *Pool) Name() string { return p.name }

// Timeout returns the per-attempt timeout.
func (p *Pool) Timeout() time.Duration { return p.timeout }

// Targets returns the pool's targets; the slice must not be modified.
func (p *Pool) Targets() []*Target { return p.targets }

// Do sends req to the least-pending target and reads the answer into resp.
// The attempt ends at the earlier of deadline and now+Timeout; a zero
// deadline means now+Timeout. Do never retries. req and resp stay owned by
// the caller.
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	t := p.pick()
	limit := time.Now().Add(p.timeout)
	if deadline.IsZero() || deadline.After(limit) {
		deadline = limit
	}
	return t.do(req, resp, deadline)
}

// pick returns the target with the fewest requests in flight, breaking ties
// at random so that equal targets share the load.
func (p *Pool) pick() *Target {
	n := len(p.targets)
	if n == 1 {
		return p.targets[0]
	}
	start := rand.IntN(n)
	best := p.targets[start]
	bestPending := best.Pending()
	for i := 1; i < n; i++ {
		t := p.targets[(start+i)%n]
		if pending := t.Pending(); pending < bestPending {
			best, bestPending = t, pending
		}
	}
	return best
}
