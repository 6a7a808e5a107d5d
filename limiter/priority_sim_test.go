package limiter

import (
	"container/heap"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// prioSim drives a Limiter with the shipped classes and their queues
// against a simBackend in simulated time: open-loop arrivals of a class
// mix, each Acquire in a goroutine of its own (queued ones block), and the
// simulation steps only once every goroutine has either queued or
// answered, so that runs are deterministic.
type prioSim struct {
	t     *testing.T
	clk   *fakeClock
	base  time.Time
	l     *Limiter   // ls[0]
	ls    []*Limiter // gateways in front of the one backend, without coordination
	be    *simBackend
	rng   *rand.Rand
	now   time.Duration
	next  time.Duration // next arrival
	done  timeHeap[simDone]
	res   chan prioResult
	alive int // goroutines that have not delivered their result

	// delay holds each slot this much longer than the backend took, ±
	// jitter (uniform): the gateway's own reads of answers waiting for a
	// CPU. With kernel receive timestamps (the default) the limiter is
	// told the backend's round trip and this delay apart (ReleaseTimed);
	// wall times both together, as a gateway without them would.
	delay, jitter time.Duration
	wall          bool
	// offsets adds a fixed delay per gateway (its network path): gateways
	// whose unloaded RTTs differ a little, as their baselines do in a real
	// fleet.
	offsets []time.Duration

	// Per class.
	sent, ok, lost []int
	lastLoss       []time.Duration // when a request of the class last lost; -1: never
	barged         int             // admissions of a class while a higher one had lost in the last 100ms
	maxQueue       int             // the backend's deepest queue (requests waiting for a worker)
	served         int             // backend completions
	limits         []int           // the limit every 100 ms
	maxBaseline    time.Duration   // the highest baseline RTT of any gateway, read every 100 ms
}

type prioResult struct {
	g   int // the gateway
	c   int
	tok Token
	r   Reason
}

// simSeed seeds the simulations (tests that sweep it set it).
var simSeed uint64 = 1

// shippedSimClasses are configs/gateway.yaml's classes.
var shippedSimClasses = []ClassConfig{
	{Name: "critical", MaxQueue: 2000, MaxWait: time.Second},
	{Name: "high", MaxQueue: 2000, MaxWait: 500 * time.Millisecond},
	{Name: "normal", MaxQueue: 1000, MaxWait: 200 * time.Millisecond, Bulk: true},
	{Name: "low", MaxQueue: 200, MaxWait: 100 * time.Millisecond, Bulk: true},
}

func newPrioSim(t *testing.T, initial int, be *simBackend) *prioSim {
	return newPrioSimN(t, 1, initial, be)
}

// newPrioSimN is a simulation of n gateways in front of be, each arrival
// going to one of them at random (as behind an L4 balancer).
func newPrioSimN(t *testing.T, n, initial int, be *simBackend) *prioSim {
	t.Helper()
	clk := newFakeClock()
	s := &prioSim{t: t, clk: clk, base: clk.Now(), be: be, rng: rand.New(rand.NewPCG(simSeed, 2)), res: make(chan prioResult, 64)}
	for range n {
		l, err := New(Config{
			InitialLimit: initial,
			Classes:      shippedSimClasses,
			Now:          clk.Now,
			AfterFunc:    clk.AfterFunc,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.ls = append(s.ls, l)
	}
	s.l = s.ls[0]
	k := len(shippedSimClasses)
	s.sent, s.ok, s.lost, s.lastLoss = make([]int, k), make([]int, k), make([]int, k), make([]time.Duration, k)
	for i := range s.lastLoss {
		s.lastLoss[i] = -1
	}
	return s
}

// run offers rps for d, split over the classes by weights.
func (s *prioSim) run(d time.Duration, rps float64, weights ...float64) {
	var total float64
	for _, w := range weights {
		total += w
	}
	end := s.now + d
	gap := time.Duration(float64(time.Second) / rps)
	s.next = max(s.next, s.now)
	tick := s.now + 100*time.Millisecond
	for s.now < end {
		t := min(s.next, tick, end)
		if len(s.done) > 0 && s.done[0].at < t {
			t = s.done[0].at
		}
		s.clk.Advance(s.base.Add(t).Sub(s.clk.Now())) // fires queue timeouts on the way
		s.now = t
		s.settle()
		for len(s.done) > 0 && s.done[0].at <= t {
			e := heap.Pop(&s.done).(simDone)
			if s.wall {
				e.tok.Release(e.at-e.start, e.out)
			} else {
				e.tok.ReleaseTimed(e.rx-e.start, e.at-e.rx, e.out)
			}
			s.settle()
		}
		for s.next <= t {
			s.next += gap
			c, u := 0, s.rng.Float64()*total
			for c < len(weights)-1 && u >= weights[c] {
				u -= weights[c]
				c++
			}
			s.arrive(c)
		}
		if t == tick {
			for _, l := range s.ls {
				var st Stats
				l.Stats(&st)
				s.limits = append(s.limits, st.Limit)
				s.maxBaseline = max(s.maxBaseline, st.BaselineRTT)
			}
			tick += 100 * time.Millisecond
		}
	}
}

// arrive starts one request of class c, as the gateway would: with its
// user's hash and a deadline 2 s out.
func (s *prioSim) arrive(c int) {
	s.sent[c]++
	s.alive++
	user, deadline := s.rng.Uint64(), s.clk.Now().Add(2*time.Second)
	g := s.rng.IntN(len(s.ls))
	l := s.ls[g]
	go func() {
		tok, r := l.Acquire(c, user, deadline)
		s.res <- prioResult{g, c, tok, r}
	}()
	s.settle()
}

// settle waits until every live goroutine is queued, taking the results
// of the others: admitted requests go to the backend now.
func (s *prioSim) settle() {
	for {
		select {
		case r := <-s.res:
			s.alive--
			s.take(r)
			continue
		default:
		}
		var waiting int64
		for _, l := range s.ls {
			waiting += l.waiting.Load()
		}
		if int64(s.alive) == waiting {
			// A waiter counts as waiting once queued, before it arms its
			// timer under mu: taking mu waits for that (else the clock
			// could move first, and runs would not repeat).
			for _, l := range s.ls {
				l.mu.Lock()
				l.mu.Unlock()
			}
			if len(s.res) == 0 {
				return
			}
		}
		runtime.Gosched()
	}
}

func (s *prioSim) take(r prioResult) {
	if r.r != ReasonNone {
		s.lost[r.c]++
		s.lastLoss[r.c] = s.now
		return
	}
	s.ok[r.c]++
	for h := range r.c {
		if s.lastLoss[h] >= 0 && s.now-s.lastLoss[h] < 100*time.Millisecond {
			s.barged++
			break
		}
	}
	inBackend := 0 // admitted and not yet answered by the backend
	for _, e := range s.done {
		if e.answered > s.now {
			inBackend++
		}
	}
	s.maxQueue = max(s.maxQueue, inBackend+1-len(s.be.free))
	at, out := s.be.serve(s.now)
	s.served++
	rx := at // the answer in the gateway's kernel: after its network path
	if r.g < len(s.offsets) {
		rx += s.offsets[r.g]
	}
	d := s.delay
	if s.jitter > 0 {
		d += time.Duration((2*s.rng.Float64() - 1) * float64(s.jitter))
	}
	heap.Push(&s.done, simDone{at: rx + max(d, 0), start: s.now, answered: at, rx: rx, tok: r.tok, out: out})
}

// success is the share of the class's decided requests that were admitted
// (requests still queued when a run ends are not counted).
func (s *prioSim) success(c int) float64 {
	return float64(s.ok[c]) / float64(max(s.ok[c]+s.lost[c], 1))
}

func (s *prioSim) reset() {
	for i := range s.sent {
		s.sent[i], s.ok[i], s.lost[i] = 0, 0, 0
	}
	s.barged, s.maxQueue, s.served, s.maxBaseline = 0, 0, 0, 0
	s.limits = s.limits[:0]
}

// TestPriorityLockstepSurge reproduces the first failure of the admission
// issue: a backend whose 20 workers finish in lockstep every 20 ms, a 10×
// surge, venue check-ins (high) at 40% of capacity. The old limiter let a
// high waiter in a standing queue wait 2 ms, so it timed out between the
// bursts of completions while the lower classes took the freed slots: high
// got 13% served. Now a class above the one the admission level cuts
// through waits its full max_wait, and a loss of a class sheds every lower
// one at once.
func TestPriorityLockstepSurge(t *testing.T) {
	for _, initial := range []int{20, 200} {
		s := newPrioSim(t, initial, newSimBackend(20, 20*time.Millisecond))
		mix := []float64{1, 4, 75, 20} // at 10× C: critical 10%, high 40% of C
		s.run(2*time.Second, simC/2, mix...)
		s.reset()
		s.run(6*time.Second, overload, mix...)
		t.Logf("initial %d: sent %v; success critical %.4f high %.4f normal %.3f low %.3f; backend %.0f%% of C, deepest queue %d; %d admissions while a higher class lost",
			initial, s.sent, s.success(0), s.success(1), s.success(2), s.success(3), 100*float64(s.served)/(6*simC), s.maxQueue, s.barged)
		if s.success(0) < 0.999 || s.success(1) < 0.99 {
			t.Errorf("initial %d: success critical %.4f, high %.4f; want >= 0.999, >= 0.99", initial, s.success(0), s.success(1))
		}
		if s.success(3) > s.success(2)+0.01 {
			t.Errorf("initial %d: low success %.3f above normal's %.3f", initial, s.success(3), s.success(2))
		}
		if busy := float64(s.served) / (6 * simC); busy < 0.9 {
			t.Errorf("initial %d: backend served %.0f%% of its capacity; want >= 90%%", initial, 100*busy)
		}
		if s.maxQueue > 3*20 {
			t.Errorf("initial %d: backend queue reached %d; want <= 3x its 20 workers", initial, s.maxQueue)
		}
		if share := float64(s.barged) / float64(s.ok[2]+s.ok[3]+1); share > 0.01 {
			t.Errorf("initial %d: %d admissions (%.1f%% of the lower classes') while a higher class lost; want none", initial, s.barged, 100*share)
		}
	}
}

// TestGatewayDelayIsNotBackendLatency reproduces the second failure: the
// gateway, saturated by retrying clients, reads the backend's answers
// 200-400 ms late, so RTTs timed by its wall clock read 220-420 ms from a
// backend answering in 20 ms. Timed so (wall), the limiter takes that for
// queueing and cuts the limit to the floor; timed by the kernel's receive
// timestamps, it is told the backend's 20 ms and the gateway's delay
// apart, and the limit rises by the slots the delay holds (Little's law)
// to keep the backend busy.
func TestGatewayDelayIsNotBackendLatency(t *testing.T) {
	for _, wall := range []bool{true, false} {
		s := newPrioSim(t, 20, newSimBackend(20, 20*time.Millisecond))
		mix := []float64{1, 4, 75, 20}
		s.run(3*time.Second, 2*simC, mix...)
		s.wall = wall
		s.reset()
		for i := 1; i <= 10; i++ { // the delay grows with the surge, over a second
			s.delay, s.jitter = time.Duration(i)*30*time.Millisecond, time.Duration(i)*10*time.Millisecond
			s.run(100*time.Millisecond, 2*simC, mix...)
		}
		s.run(7*time.Second, 2*simC, mix...)
		lo := 1 << 30
		for _, l := range s.limits {
			lo = min(lo, l)
		}
		s.reset()
		s.run(4*time.Second, 2*simC, mix...)
		busy := float64(s.served) / (4 * simC)
		t.Logf("wall %v: reads 300±100 ms late: limit never below %d; then %v; backend %.0f%% busy over the last 4 s", wall, lo, s.limits[len(s.limits)-5:], 100*busy)
		if wall {
			if lo >= 10 && busy >= 0.9 {
				t.Errorf("timed by the wall clock the limit held (never below %d, backend %.0f%% busy): the simulation no longer shows the failure", lo, 100*busy)
			}
			continue
		}
		if lo < 10 {
			t.Errorf("limit fell to %d; want never below half the backend's 20 workers", lo)
		}
		if busy < 0.9 {
			t.Errorf("backend served %.0f%% of its capacity; want >= 90%%", 100*busy)
		}
	}
}

// TestSeveralGatewaysSimulated: three gateways, no coordination, one
// lockstep backend (10 workers x 20 ms), a 10x surge, ten seeds. Asserted:
// the top class fully served, check-ins (high) at least 99.5% over the
// seeds, the backend kept busy, its queue bounded, and at most 1.5% of
// the lower classes' admissions made while a higher class had lost (at
// any gateway) in the last 100 ms: 0.4% measured, with and without the
// race detector (0.6% before a class above the lowest two took a free
// slot at once, with a free slot waiting for 16 arrivals, and 1.1% in one
// CI run of that, the packages' tests running side by side under the
// race detector, which changes the goroutines' order; 0.5% before the
// wait for arrivals, 0.1-0.4% before free slots went first to the next
// demand rank), 0.7% before a gateway losing
// check-ins came to tolerate more latency (controller.tolerance); the
// figures of earlier rules are below.
func TestSeveralGatewaysSimulated(t *testing.T) {
	defer func() { simSeed = 1 }()
	const workers, seeds = 10, 10
	c := float64(workers) / 0.02
	for _, n := range []int{1, 3} {
		var high, inverted, busy float64
		lowest := 1.0
		for seed := uint64(1); seed <= seeds; seed++ {
			simSeed = seed
			s := newPrioSimN(t, n, 20, newSimBackend(workers, 20*time.Millisecond))
			mix := []float64{1, 4, 75, 20} // at 10x C: critical 10%, high 40% of C
			s.run(2*time.Second, c/2, mix...)
			s.reset()
			s.run(10*time.Second, 10*c, mix...)
			high += s.success(1) / seeds
			inverted += float64(s.barged) / float64(s.ok[2]+s.ok[3]+1) / seeds
			if s.success(0) < 0.999 {
				t.Errorf("%d gateways, seed %d: critical success %.4f; want >= 0.999", n, seed, s.success(0))
			}
			b := float64(s.served) / (10 * c)
			busy += b / seeds
			lowest = min(lowest, b)
			if s.maxQueue > 3*workers {
				t.Errorf("%d gateways, seed %d: backend queue reached %d; want <= 3x its %d workers", n, seed, s.maxQueue, workers)
			}
		}
		t.Logf("%d gateway(s), mean of %d seeds: high success %.4f (target 0.99); %.1f%% of lower-class admissions while a higher class lost (target 0); backend busy %.1f%% (lowest %.1f%%)",
			n, seeds, high, 100*inverted, 100*busy, 100*lowest)
		// Three gateways: 0.9992 (0.4% inverted) since a class above the
		// lowest two takes a free slot at once, 0.9991 (0.6%) since a free
		// slot waits for 16 arrivals, 0.9992 (0.5%) since free slots go first to the
		// next demand rank, 0.9999 (0.1%) since a gateway losing
		// check-ins tolerates more latency (controller.tolerance); 0.9990
		// (0.7% inverted) since a shed behind a
		// standing queue is a loss and a rebase needs slower answers;
		// 0.9987 (1.3%) since a window cuts no class above the one that
		// lost (0.9885 before, with 10% of lower-class admissions while a
		// higher class lost; 0.9767 with 20-sample windows, see
		// MinSamples); one: 1.0000.
		if high < 0.995 {
			t.Errorf("%d gateways: high success %.4f over %d seeds; want >= 0.995", n, high, seeds)
		}
		if inverted > 0.015 {
			t.Errorf("%d gateways: %.1f%% of lower-class admissions while a higher class lost; want <= 1.5%%", n, 100*inverted)
		}
		if busy < 0.9 {
			t.Errorf("%d gateways: backend served %.1f%% of its capacity on average; want >= 90%%", n, 100*busy)
		}
	}
}

// TestUncoordinatedBaselinesHold: three gateways, no coordination, whose
// unloaded RTTs differ by 0, 0.25 and 0.5 ms (1.2% and 2.4% of the 20.5 ms
// they see), as the baselines of the three-gateway bench differ by 1-5%.
// Every gateway reads queueing that the others' requests add. A gateway
// that the others had pressed to its floor took that latency for a slower
// backend and reset its baseline to it; it then grew into the queue, the
// others reset theirs in turn, and the baselines ratcheted (20.5 to 36-54
// ms in five of these eight seeds, the backend's queue 13-17 deep, and in
// the bench a gateway that rose to 19 slots while another, at 1, shed
// check-ins). A rebase now needs the window's fastest answer to be slower
// too (controller.slower). Asserted over a 30 s surge at 10x: no baseline
// above 1.25x the unloaded RTT; over its last 20 s, the backend's queue at
// most 1.5x its workers and check-ins (high) at least 97% served, in every
// seed. And, over the eight seeds, check-ins at least 99.5% served and at
// most 800 lower-class admissions while a higher class lost: a gateway
// losing check-ins tolerates more latency than the others, which yield
// their slots to it (controller.tolerance). Without that: 99.40% and
// 1,538 (three seeds under 99%); with it, 99.78% and 476 (99.74-99.83%
// and 364-548 under the race detector, which changes the goroutines'
// order); 99.95% and 185 with free slots to the next demand rank;
// 99.98% and 52 (100% and 0 under the race detector) once a class above
// the lowest two takes a free slot at once.
//
// With offsets twice as large (2.4% and 4.9%), one seed of eight still
// ratchets: the gateway with the highest baseline reads the shared p90 as
// within tolerance and keeps growing while the others cut, the backend's
// queue then stands, and even the fastest answers are slow.
func TestUncoordinatedBaselinesHold(t *testing.T) {
	defer func() { simSeed = 1 }()
	const workers, n = 10, 3
	c := float64(workers) / 0.02
	var high float64
	var barged int
	for seed := uint64(1); seed <= 8; seed++ {
		simSeed = seed
		s := newPrioSimN(t, n, 20, newSimBackend(workers, 20*time.Millisecond))
		s.offsets = []time.Duration{0, 250 * time.Microsecond, 500 * time.Microsecond}
		mix := []float64{1, 4, 75, 20}
		s.run(2*time.Second, c/2, mix...)
		s.reset()
		s.run(10*time.Second, 10*c, mix...)
		onset := s.maxBaseline
		s.reset() // the queue is measured after the onset
		s.run(20*time.Second, 10*c, mix...)
		s.maxBaseline = max(s.maxBaseline, onset)
		mean := make([]float64, n)
		for i, l := range s.limits {
			mean[i%n] += float64(l) / float64(len(s.limits)/n)
		}
		high += s.success(1) / 8
		barged += s.barged
		t.Logf("seed %d: mean limit per gateway %.1f; high success %.4f; %d lower-class admissions while a higher class lost; backend %.0f%% busy, deepest queue %d; highest baseline %v",
			seed, mean, s.success(1), s.barged, 100*float64(s.served)/(20*c), s.maxQueue, s.maxBaseline)
		if unloaded := 20500 * time.Microsecond; s.maxBaseline > unloaded*5/4 {
			t.Errorf("seed %d: a baseline reached %v; want <= 1.25x the unloaded %v", seed, s.maxBaseline, unloaded)
		}
		if s.maxQueue > workers*3/2 {
			t.Errorf("seed %d: backend queue reached %d; want <= 1.5x its %d workers", seed, s.maxQueue, workers)
		}
		if s.success(1) < 0.97 {
			t.Errorf("seed %d: high success %.4f; want >= 0.97", seed, s.success(1))
		}
	}
	t.Logf("over 8 seeds: high success %.4f; %d lower-class admissions while a higher class lost", high, barged)
	if high < 0.995 {
		t.Errorf("high success over 8 seeds %.4f; want >= 0.995", high)
	}
	if barged > 800 {
		t.Errorf("%d lower-class admissions while a higher class lost, over 8 seeds; want <= 800", barged)
	}
}
