// Package upstream sends requests to the backend targets of one named
// upstream and keeps a sick target from being fed: one fasthttp.HostClient
// per target, selection among available targets only (least pending, ties
// at random), a hard cap on connections per target, a per-attempt timeout,
// active health checks (health.go), passive outlier detection merged with a
// per-target circuit breaker (outlier.go, breaker.go), idempotent-only
// retries under a retry budget (retry.go, budget.go), the remaining time
// budget passed to the backend in a header, and figures for /status and
// metrics (stats.go).
//
// A target is available when its health checks pass (or none run) and its
// breaker is closed, or half-open with a probe slot free. When no target is
// available, Send returns ErrUnavailable at once without dialling,
// so an outage costs no connection storm: a dead target gets at most one
// health probe per interval and a few breaker probes per ejection.
//
// It knows nothing of routes, caching or admission: the gateway decides
// whether a request may go out and whether it is idempotent; upstream only
// decides where it goes, how long it may take and whether a failed
// idempotent attempt is tried again: Send never sends a non-idempotent
// request twice.
package upstream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Sentinel errors returned by Pool.Send. Callers map them to
// HTTP statuses.
var (
	// ErrTimeout means the attempt's deadline passed before an answer came.
	ErrTimeout = errors.New("upstream: timeout")
	// ErrUnavailable means no target could take the request: none is
	// available (unhealthy, ejected, half-open with its probes taken), or
	// the connection failed before any answer.
	ErrUnavailable = errors.New("upstream: unavailable")
	// ErrUnknownOutcome means the request was written on a connection that
	// then closed or reset before any answer: the target may have acted on
	// it. It wraps ErrUnavailable; a connection that could not be made
	// (nothing sent) is ErrUnavailable alone.
	ErrUnknownOutcome = fmt.Errorf("%w: connection lost after the request was sent", ErrUnavailable)
	// ErrBadResponse means the target answered something that is not HTTP.
	ErrBadResponse = errors.New("upstream: bad response")
	// ErrBadRequest means the request cannot be sent as it stands (no Host,
	// an https target on a plain connection): the caller's fault, never
	// counted against a target and never retried.
	ErrBadRequest = errors.New("upstream: request cannot be forwarded")
)

// DefaultDeadlineHeader is the header the shipped config names in
// Config.DeadlineHeader.
const DefaultDeadlineHeader = "X-Request-Deadline"

// Config describes one upstream. Zero values mean the documented defaults;
// the protections that change behaviour (health checks, outlier detection,
// the deadline header) are off in a zero Config and switched on by the
// gateway's config, whose defaults turn them on.
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
	// Health configures active health checks. Default: none (see Health).
	Health Health
	// Outlier configures passive outlier detection and the breaker.
	// Default: off (see Outlier).
	Outlier Outlier
	// Retry configures Send's retries. Default 2 attempts, a 10% budget with a
	// floor of 3 retries per second (see Retry).
	Retry Retry
	// DeadlineHeader names the request header in which each attempt tells
	// the backend its remaining time budget, in whole milliseconds.
	// Default "": none is sent. The shipped config uses
	// DefaultDeadlineHeader.
	DeadlineHeader string
	// Clock returns the current time for the breaker, outlier and budget
	// state machines. Default time.Now; tests inject a fake. Deadlines and
	// health check intervals always use the real clock.
	Clock func() time.Time
}

// orDefault returns v when it is set (above zero; NaN is not), else def:
// the zero value of a config field means its documented default.
func orDefault[T int | float64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c *Config) timeout() time.Duration { return orDefault(c.Timeout, DefaultTimeout) }

func (c *Config) maxConns() int { return orDefault(c.MaxConnsPerTarget, DefaultMaxConnsPerTarget) }

// epoch anchors the package's clock readings: a moment is held as
// nanoseconds since epoch, so that it fits an atomic int64.
var epoch = time.Now()

// Pool sends requests to the targets of one upstream.
// It is safe for concurrent use.
type Pool struct {
	name     string
	timeout  time.Duration
	targets  []*Target
	health   Health
	outlier  Outlier
	retry    Retry
	attempts int
	budget   *budget
	header   []byte // DeadlineHeader; nil: none
	clock    func() time.Time

	mu      sync.Mutex // guards started and stopped
	started bool
	stopped bool
}

// NewPoolFrom builds a pool for cfg that keeps prev's targets (their open
// connections, health, breaker state and counters) where the address,
// timeout and connection cap are unchanged, and prev's retry budget and
// counters; prev may be nil. Targets of prev that the new pool does not keep
// are the caller's to drain (see Retired); prev's health checkers are the
// caller's to stop with prev.Stop, after calling Start on the new pool.
func NewPoolFrom(prev *Pool, cfg Config) (*Pool, error) {
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("upstream %q: no targets", cfg.Name)
	}
	p := &Pool{
		name: cfg.Name, timeout: cfg.timeout(), health: cfg.Health, outlier: cfg.Outlier,
		retry: cfg.Retry, attempts: cfg.Retry.attempts(), clock: cfg.Clock,
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	if cfg.DeadlineHeader != "" {
		p.header = []byte(cfg.DeadlineHeader)
	}
	if prev != nil {
		p.budget = prev.budget
	} else {
		p.budget = new(budget)
	}
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

// now reads the pool's clock as nanoseconds since epoch.
func (p *Pool) now() int64 { return int64(p.clock().Sub(epoch)) }

// pick returns the index of an available target with the fewest requests
// in flight, ties broken at random, preferring targets not in avoid (a bit
// per target index, for retries), and takes its breaker's permission;
// probe reports a half-open probe slot, which finish or cancel gives back.
// When every breaker refuses, it returns panicPick's choice; -1 when no
// target passes its health checks either.
func (p *Pool) pick(avoid uint64, now int64) (i int, probe bool) {
	var lost uint64 // targets whose last probe slot another request took
	for range len(p.targets) + 1 {
		i = p.best(avoid|lost, now)
		if i < 0 && avoid != 0 {
			i = p.best(lost, now)
		}
		if i < 0 {
			break
		}
		if ok, probe := p.targets[i].br.admit(now, &p.outlier); ok {
			return i, probe
		}
		lost |= bit(i)
	}
	return p.panicPick(avoid), false
}

// panicPick chooses, when no breaker lets a request through, the target
// passing its health checks with the fewest requests in flight (outside
// avoid when it can), breakers aside: a breaker sheds a failing target's
// share onto the others, and with no other left it would turn a backend
// failing some requests into one failing all of them (Envoy's panic mode;
// TestLastTargetIsNeverEjected). A target found unreachable by its health
// checks still gets nothing. It returns -1 when none passes them.
func (p *Pool) panicPick(avoid uint64) int {
	// better: a target outside avoid, then the fewer in flight.
	better := func(i, j int) bool {
		if ai, aj := avoid&bit(i) != 0, avoid&bit(j) != 0; ai != aj {
			return !ai
		}
		return p.targets[i].Pending() < p.targets[j].Pending()
	}
	best := -1
	for i, t := range p.targets {
		if t.healthy.Load() && (best < 0 || better(i, best)) {
			best = i
		}
	}
	if best >= 0 {
		p.budget.panics.Add(1)
	}
	return best
}

// trialShare: one in this many requests that may not be retried goes to a
// suspect target like any other (see send): enough for trials of a target
// behind only such traffic, few enough to keep their failures rare.
const trialShare = 64

// suspects returns the mask of targets on trial (breaker open or
// half-open) or failing lately (a tenth of at least 5 requests in the
// breaker's window, below the rules that open it), or 0 for one call in
// trialShare.
func (p *Pool) suspects(now int64) uint64 {
	if rand.IntN(trialShare) == 0 {
		return 0
	}
	var m uint64
	for i, t := range p.targets {
		if t.br.suspect(now, &p.outlier) {
			m |= bit(i)
		}
	}
	return m
}

// best returns the index of the available target outside skip with the
// fewest requests in flight, starting at a random index so that ties go
// anywhere; -1 when there is none. A full target (pending at its
// connection cap) is only chosen when every other is as busy.
func (p *Pool) best(skip uint64, now int64) int {
	n := len(p.targets)
	start := 0
	if n > 1 {
		start = rand.IntN(n)
	}
	best, bestPending := -1, int64(0)
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		t := p.targets[i]
		if skip&bit(i) != 0 || !t.available(now, &p.outlier) {
			continue
		}
		if pending := t.Pending(); best < 0 || pending < bestPending {
			best, bestPending = i, pending
		}
	}
	return best
}

// bit is the mask bit of target index i; targets past the 64th share none,
// so they are never avoided.
func bit(i int) uint64 {
	if i >= 64 {
		return 0
	}
	return 1 << uint(i)
}
