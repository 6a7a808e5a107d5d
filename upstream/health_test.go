package upstream

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shedgate/internal/wait"
)

// TestKilledTargetStopsAndComesBack kills one of two targets under about
// 500 requests per second: errors stop within a second, the dead target
// then gets no attempts at all, and once it listens again it gets traffic
// within two health intervals.
func TestKilledTargetStopsAndComesBack(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	const interval = 200 * time.Millisecond
	p, err := newPool(Config{
		Name: "u", Targets: []string{a.addr, b.addr}, Timeout: time.Second,
		Health:  Health{Path: "/healthz", Interval: interval, Timeout: 100 * time.Millisecond, HealthyAfter: 2, UnhealthyAfter: 2},
		Outlier: Outlier{ConsecutiveFailures: 5, FailureRatio: 0.5, BaseEjection: time.Second, MaxEjection: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Stop()
	ta := p.Target(a.addr)

	var once, retried load
	stop := make(chan struct{})
	doneOnce := once.run(p, 2, 8*time.Millisecond, false, stop)
	doneRetried := retried.run(p, 2, 8*time.Millisecond, true, stop)
	time.Sleep(500 * time.Millisecond)
	if a.requests.Load() == 0 || b.requests.Load() == 0 {
		t.Fatalf("before the kill: %d and %d requests; want both targets used", a.requests.Load(), b.requests.Load())
	}
	a.kill()
	killedAt := time.Now()
	time.Sleep(time.Second)
	attemptsAt1s := ta.Requests()
	time.Sleep(500 * time.Millisecond)
	attemptsLate := ta.Requests() - attemptsAt1s
	state := p.State(ta)

	a.revive()
	deadline := time.Now().Add(2 * time.Second)
	for a.firstRequestAfter() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	back := a.firstRequestAfter()
	close(stop)
	<-doneOnce
	<-doneRetried

	sent, errs, lastErr, _ := once.snapshot()
	rsent, rerrs, _, _ := retried.snapshot()
	stoppedAfter := time.Duration(0)
	if errs > 0 {
		stoppedAfter = lastErr.Sub(killedAt)
	}
	t.Logf("killed target: single attempts %d errors of %d (%s), last %v after the kill; Send %d errors of %d, %d retries; "+
		"dead target %s with %d attempts in its last 0.5s; back: first request %v after it listened again (interval %v)",
		errs, sent, pct(errs, sent), stoppedAfter.Round(time.Millisecond), rerrs, rsent, p.Retries(),
		state, attemptsLate, back.Round(time.Millisecond), interval)
	if stoppedAfter > time.Second {
		t.Fatalf("errors went on %v after the kill; want them to stop within 1s", stoppedAfter)
	}
	// The breaker opens after ConsecutiveFailures (5) in a row; the two
	// concurrent senders may each have one more in flight. (A share of
	// the requests sent, as this was, depends on how fast a busy machine
	// sends: 5 of 480 failed it.)
	if errs > 5+2 {
		t.Fatalf("single attempts: %d errors of %d requests; want at most 7 (5 to open the breaker, 2 in flight)", errs, sent)
	}
	if rerrs != 0 {
		t.Fatalf("Send: %d errors of %d GETs; want 0: a refused or reset GET is retried on the live target", rerrs, rsent)
	}
	if attemptsLate != 0 || state != StateUnhealthy {
		t.Fatalf("dead target: %d attempts in the last 0.5s, state %v; want 0 and unhealthy", attemptsLate, state)
	}
	if back == 0 || back > 2*interval+100*time.Millisecond {
		t.Fatalf("revived target got its first request %v after it listened; want within 2 health intervals (%v)", back, 2*interval)
	}
}

// TestCheckersFollowPools checks the hand-over on reload: a kept target's
// checker keeps probing while either pool holds it, keeps its verdict, and
// stops when the last pool stops.
func TestCheckersFollowPools(t *testing.T) {
	a := newBackend(t)
	cfg := Config{Name: "u", Targets: []string{a.addr}, Health: Health{Path: "/healthz", Interval: 20 * time.Millisecond}}
	prev, _ := newPool(cfg)
	probesWithin := func(d time.Duration) int64 {
		n := a.probes.Load()
		time.Sleep(d)
		return a.probes.Load() - n
	}
	if n := probesWithin(100 * time.Millisecond); n != 0 {
		t.Fatalf("%d probes before Start; want 0", n)
	}
	prev.Start()
	prev.Start() // idempotent
	if n := probesWithin(100 * time.Millisecond); n < 2 || n > 7 {
		t.Fatalf("%d probes in 100ms at a 20ms interval; want about 5 (one checker)", n)
	}
	next, _ := NewPoolFrom(prev, cfg)
	if next.Target(a.addr) != prev.Target(a.addr) {
		t.Fatalf("target not kept across an unchanged config")
	}
	tg := next.Target(a.addr)
	tg.healthy.Store(false) // a verdict the hand-over must keep
	next.Start()
	prev.Stop()
	prev.Stop() // idempotent
	if n := probesWithin(100 * time.Millisecond); n < 2 || n > 7 {
		t.Fatalf("%d probes in 100ms after the hand-over; want about 5 (still one checker)", n)
	}
	next.Stop()
	time.Sleep(30 * time.Millisecond) // a probe under way ends
	if n := probesWithin(100 * time.Millisecond); n != 0 {
		t.Fatalf("%d probes after the last Stop; want 0", n)
	}
	if !tg.Healthy() {
		t.Fatalf("target unhealthy after its checks stopped; want healthy (no checks)")
	}
	// A pool never started stops quietly, and a stopped one never starts.
	idle, _ := newPool(cfg)
	idle.Stop()
	idle.Start()
	if n := probesWithin(60 * time.Millisecond); n != 0 {
		t.Fatalf("%d probes from a stopped pool; want 0", n)
	}
}

// TestHealthVerdictKeptOverTheHandOver checks that the hand-over keeps
// probing with the same checker: an unhealthy target does not turn
// healthy because a reload happened.
func TestHealthVerdictKeptOverTheHandOver(t *testing.T) {
	dead, _, _ := rawBackend(t, false)
	cfg := Config{Name: "u", Targets: []string{dead}, Health: Health{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 20 * time.Millisecond}}
	prev, _ := newPool(cfg)
	prev.Start()
	defer prev.Stop()
	tg := prev.Target(dead)
	wait.For(t, time.Second, "dead target unhealthy", func() bool { return !tg.Healthy() })
	next, _ := NewPoolFrom(prev, cfg)
	next.Start()
	defer next.Stop()
	prev.Stop()
	if tg.Healthy() {
		t.Fatalf("dead target healthy right after the hand-over; want the unhealthy verdict kept")
	}
	if err := get(next, time.Time{}); err != ErrUnavailable {
		t.Fatalf("request to the unhealthy target: %v; want ErrUnavailable at once", err)
	}
}

// TestRevivedTargetGetsFreshConnections: a target that died with idle
// keep-alive connections in the pool and came back must not be sent its
// first requests on those dead connections. Each would fail as a reset,
// count against the freshly revived target and eject it again, for longer
// (seen end to end: a restarted issuer got no traffic for seconds).
func TestRevivedTargetGetsFreshConnections(t *testing.T) {
	a := newBackend(t)
	const interval = 50 * time.Millisecond
	p, err := newPool(Config{
		Name: "u", Targets: []string{a.addr}, Timeout: time.Second,
		Health:  Health{Path: "/healthz", Interval: interval, Timeout: 50 * time.Millisecond, HealthyAfter: 2, UnhealthyAfter: 2},
		Outlier: Outlier{ConsecutiveFailures: 1, BaseEjection: time.Second, MaxEjection: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Stop()
	ta := p.Target(a.addr)
	concurrent := func(n int) (failed int) {
		var wg sync.WaitGroup
		var fails atomic.Int64
		for range n {
			wg.Go(func() {
				if err := get(p, time.Time{}); err != nil {
					fails.Add(1)
				}
			})
		}
		wg.Wait()
		return int(fails.Load())
	}
	if f := concurrent(8); f != 0 { // leaves up to 8 idle connections
		t.Fatalf("before the kill: %d of 8 failed", f)
	}
	a.kill()
	wait.For(t, 2*time.Second, "killed target unhealthy", func() bool { return !ta.Healthy() })
	a.revive()
	wait.For(t, 2*time.Second, "revived target healthy", func() bool { return ta.Healthy() })
	ejections := ta.Ejections()
	if f := concurrent(8); f != 0 || ta.Ejections() != ejections {
		t.Fatalf("after the revival: %d of 8 requests failed, %d new ejections; want 0 and 0 (dead keep-alive connections reused?)",
			f, ta.Ejections()-ejections)
	}
}

// TestResetDropsIdleConnections: without health checks, a target restarted
// behind the pool's back costs one failed request, not one per idle
// connection left from before.
func TestResetDropsIdleConnections(t *testing.T) {
	a := newBackend(t)
	p, err := newPool(Config{Name: "u", Targets: []string{a.addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 { // leaves up to 8 idle connections
		wg.Go(func() { get(p, time.Time{}) }) //nolint:errcheck
	}
	wg.Wait()
	a.kill()
	a.revive()
	failed := 0
	for range 8 {
		if get(p, time.Time{}) != nil {
			failed++
		}
	}
	if failed > 1 {
		t.Fatalf("after a restart: %d of 8 sequential requests failed; want at most 1 (idle connections dropped after the first reset)", failed)
	}
}

// TestHealthJudgesReachability: a target answering 500 to everything,
// its probes included, stays healthy (it is reachable: its breaker and
// the retries deal with its answers); with FailOn5xx it is taken out.
func TestHealthJudgesReachability(t *testing.T) {
	for _, failOn5xx := range []bool{false, true} {
		b := newBackend(t)
		b.failAll.Store(http.StatusInternalServerError)
		p, err := newPool(Config{Name: "u", Targets: []string{b.addr},
			Health: Health{Path: "/probe", Interval: 20 * time.Millisecond, Timeout: 20 * time.Millisecond, FailOn5xx: failOn5xx}})
		if err != nil {
			t.Fatal(err)
		}
		p.Start()
		time.Sleep(200 * time.Millisecond) // ten probes
		healthy := p.Targets()[0].Healthy()
		p.Stop()
		if healthy == failOn5xx {
			t.Fatalf("FailOn5xx %v, every probe answered 500: healthy %v; want %v", failOn5xx, healthy, !failOn5xx)
		}
	}
}
