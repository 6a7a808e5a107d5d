package upstream

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Health configures active health checks: one goroutine per target sends
// GET Path on a connection of its own (so that a target full of traffic is
// still probed) and turns the target unhealthy after UnhealthyAfter failed
// probes in a row, healthy again after HealthyAfter passing ones. It probes
// every Interval, and every Interval/2 while a run toward a change of state
// is under way, so that a change is confirmed within Interval ×
// (1 + (n-1)/2) for a threshold of n. A probe passes when the target
// answers within Timeout, whatever the status unless FailOn5xx (then below
// 500; see TestHealthJudgesReachability). An unhealthy target gets
// no requests; one that comes back healthy has an open breaker turned
// half-open at once, so that its traffic returns with its health.
//
// Checks run between Pool.Start and Pool.Stop. A target starts healthy.
type Health struct {
	// Path is what each probe GETs, such as "/healthz"; a query is
	// allowed. Default "": no active checks, every target is healthy.
	Path string
	// Interval is the time between probes of one target. Default 1s.
	Interval time.Duration
	// Timeout bounds one probe. Default 500ms.
	Timeout time.Duration
	// HealthyAfter is how many passing probes in a row make an unhealthy
	// target healthy. Default 2.
	HealthyAfter int
	// UnhealthyAfter is how many failed probes in a row make a healthy
	// target unhealthy. Default 2.
	UnhealthyAfter int
	// FailOn5xx fails a probe answered 500 or above. Default false.
	FailOn5xx bool
}

func (h *Health) interval() time.Duration { return orDefault(h.Interval, DefaultHealthInterval) }

func (h *Health) timeout() time.Duration { return orDefault(h.Timeout, DefaultHealthTimeout) }

func (h *Health) healthyAfter() int { return orDefault(h.HealthyAfter, DefaultHealthyAfter) }

func (h *Health) unhealthyAfter() int { return orDefault(h.UnhealthyAfter, DefaultUnhealthyAfter) }

// Start starts the health checkers of the pool's targets when Health.Path
// is set. A target kept from a previous pool keeps its running checker and
// verdict (restarted with this pool's settings if they differ). Call Start
// once the pool is in use; after a reload, call Start on the new pool
// before Stop on the old one. Start is idempotent; a stopped pool does not
// start again.
func (p *Pool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopped {
		return
	}
	p.started = true
	for _, t := range p.targets {
		t.startHealth(p.health)
	}
}

// Stop releases the pool's hold on its targets' health checkers: a
// checker stops when no started pool holds its target any more, within
// one probe (at most Health.Timeout), and its target then counts as
// healthy. Stop is idempotent and may be called on a pool never started.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if !p.started {
		return
	}
	for _, t := range p.targets {
		t.stopHealth()
	}
}

// checker is one target's health checking goroutine.
type checker struct {
	cfg  Health
	stop chan struct{}
}

// startHealth takes a hold on t's checker for a pool checking with cfg.
func (t *Target) startHealth(cfg Health) {
	t.hcMu.Lock()
	defer t.hcMu.Unlock()
	t.hcRefs++
	if t.hc != nil && t.hc.cfg == cfg {
		return
	}
	if t.hc != nil {
		close(t.hc.stop)
		t.hc = nil
	}
	if cfg.Path == "" {
		t.healthy.Store(true)
		return
	}
	t.hc = &checker{cfg: cfg, stop: make(chan struct{})}
	go t.hc.run(t)
}

// stopHealth releases a hold taken by startHealth.
func (t *Target) stopHealth() {
	t.hcMu.Lock()
	defer t.hcMu.Unlock()
	if t.hcRefs--; t.hcRefs > 0 {
		return
	}
	t.hcRefs = 0
	if t.hc != nil {
		close(t.hc.stop)
		t.hc = nil
	}
	t.healthy.Store(true)
}

// run probes t every interval until stopped, the first probe at once.
func (c *checker) run(t *Target) {
	client := &fasthttp.HostClient{
		Addr:                      t.addr,
		MaxConns:                  1,
		MaxIdemponentCallAttempts: 1,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
	}
	defer client.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + t.addr + c.cfg.Path)
	req.Header.SetUserAgent("shedgate-health-check")
	timer := time.NewTimer(0)
	defer timer.Stop()
	var passed, failed int // in a row
	for {
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		err := client.DoDeadline(req, resp, time.Now().Add(c.cfg.timeout()))
		if err == nil && (!c.cfg.FailOn5xx || resp.StatusCode() < 500) {
			passed, failed = passed+1, 0
		} else {
			passed, failed = 0, failed+1
		}
		changing, ok := c.verdict(t, passed, failed)
		if !ok {
			return
		}
		next := c.cfg.interval()
		if changing {
			next /= 2 // confirm a change of state sooner
		}
		timer.Reset(next)
	}
}

// verdict applies the thresholds to the probes in a row. changing reports
// probes under way toward a change of state; ok is false when the checker
// was stopped meanwhile and its verdict no longer counts.
func (c *checker) verdict(t *Target, passed, failed int) (changing, ok bool) {
	t.hcMu.Lock()
	defer t.hcMu.Unlock()
	if t.hc != c {
		return false, false
	}
	healthy := t.healthy.Load()
	switch {
	case !healthy && passed >= c.cfg.healthyAfter():
		// Keep-alive connections from before it went down are dead (a
		// restarted process has none of them): the first requests would
		// fail on them as resets and eject the target again, for longer.
		t.client.CloseIdleConnections()
		t.healthy.Store(true)
		t.br.revive()
	case healthy && failed >= c.cfg.unhealthyAfter():
		t.healthy.Store(false)
		t.client.CloseIdleConnections()
	case !healthy && passed > 0, healthy && failed > 0:
		return true, true
	}
	return false, true
}
