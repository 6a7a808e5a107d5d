//go:build !race

package limiter

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The admission grid in simulated time: every combination of backend size,
// service time, surge size, client behaviour and gateway saturation, and
// the backend faults at each backend, each driving one Limiter with the
// shipped classes (normal and low bulk) from an idle start with an
// initial limit ten times the backend's workers. Asserted at every point
// (TestAdmissionGrid), with the acceptance criteria of the admission
// issue; the figures are printed as FIGURE lines with -v.

// gridPoint is one point of the grid.
type gridPoint struct {
	workers int
	service time.Duration
	exp     bool    // service times exponential; else constant (workers finish in lockstep)
	offered float64 // first attempts per second, × the backend's capacity
	client  string  // patient (one attempt), impatient (again at once, 3 attempts), polite (again after Retry-After, 3 attempts)
	// saturated: the gateway itself is CPU-saturated: it parses each
	// attempt and reads each answer late, by a delay that grows with the
	// attempt rate (300 ± 100 ms at the surge's full rate).
	saturated bool
	// fault: "" none; "errors" 20% of answers fail (500s: outcome
	// ignored, as the gateway maps them); "slow" every answer 200 ms
	// later from 2 s into the run, the workers not held (offered below
	// capacity: spare); "halved" half the workers gone 2 s into it.
	fault string
}

func (p gridPoint) capacity() float64 { return float64(p.workers) / p.service.Seconds() }

func (p gridPoint) String() string {
	dist := "const"
	if p.exp {
		dist = "exp"
	}
	gw := "own-core"
	if p.saturated {
		gw = "saturated"
	}
	s := fmt.Sprintf("w%d/%v-%s/%gx/%s/%s", p.workers, p.service, dist, p.offered, p.client, gw)
	if p.fault != "" {
		s += "/" + p.fault
	}
	return s
}

// gridTrace, if set (SHEDGATE_GRID_TRACE), names points whose limiter is
// printed every 100 ms.
var gridTrace = os.Getenv("SHEDGATE_GRID_TRACE")

// gridDuration is how long each point's surge runs.
const gridDuration = 6 * time.Second

// gridResult is what one point measured.
type gridResult struct {
	served, shed     [4]int  // per class: users served within 1 s, attempts rejected
	attempts, late   [4]int  // attempts; users answered after more than 1 s
	gaveUp, failed   [4]int  // users whose last attempt was rejected; answered with an error
	inversionSeconds int     // seconds in which a class was admitted after a higher one lost a request
	busy             float64 // backend worker time used / available
	maxQueue         int     // requests waiting for a backend worker, at most
	minLimit         int     // the lowest limit while the backend answered within 1.2x its unloaded time
	limitSamples     int
}

// share is the share of class c's users served within 1 s, of those
// whose fate is known (every user is, after the drain).
func (r gridResult) share(c int) float64 {
	return float64(r.served[c]) / float64(max(r.served[c]+r.late[c]+r.gaveUp[c]+r.failed[c], 1))
}

func (r gridResult) shedShare(c int) float64 {
	return float64(r.shed[c]) / float64(max(r.attempts[c], 1))
}

type gridUser struct {
	class int
	hash  uint64
	first time.Duration
	tries int
}

// gridEvent is an attempt reaching the limiter (release false) or an
// answer read by the gateway (release true).
type gridEvent struct {
	at      time.Duration
	user    int
	release bool
	tok     Token
	rtt     time.Duration // kernel round trip
	local   time.Duration // the gateway's own delay on top
	out     Outcome
}

func (e gridEvent) when() time.Duration { return e.at }

// workerStart is when a request waiting at the backend gets a worker.
type workerStart time.Duration

func (w workerStart) when() time.Duration { return time.Duration(w) }

type gridAcquired struct {
	user int
	tok  Token
	r    Reason
}

type gridSim struct {
	p      gridPoint
	clk    *fakeClock
	base   time.Time
	l      *Limiter
	rng    *rand.Rand
	now    time.Duration
	events timeHeap[gridEvent]
	res    chan gridAcquired
	alive  int
	users  []gridUser

	free     []time.Duration       // when each backend worker is next free
	inWorker timeHeap[workerStart] // when each request waiting at the backend starts (queue depth)
	workT    time.Duration         // worker time used
	availT   float64               // worker-seconds available

	tickAttempts int     // attempts in the current 100 ms
	rate         float64 // attempts per second over the last 100 ms
	surgeRate    float64 // attempts per second the surge's first attempts make
	lossAt       [4]time.Duration
	invSecond    map[int64]bool
	answeredSum  time.Duration // backend latency of answers this tick
	answeredN    int
	out          gridResult
}

func newGridSim(t testing.TB, p gridPoint, seed uint64) *gridSim {
	clk := newFakeClock()
	s := &gridSim{p: p, clk: clk, base: clk.Now(), rng: rand.New(rand.NewPCG(seed, 7)),
		res: make(chan gridAcquired, 64), free: make([]time.Duration, p.workers), invSecond: map[int64]bool{}}
	// max_limit is the operator's ceiling, set out of the way here: a
	// backend of 50 workers x 5 ms answering 200 ms late holds 1,230
	// requests at 0.6x.
	l, err := New(Config{InitialLimit: 10 * p.workers, MaxLimit: 100 * p.workers, Classes: shippedSimClasses, Now: clk.Now, AfterFunc: clk.AfterFunc})
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	s.out.minLimit = math.MaxInt
	return s
}

// classRates returns first attempts per second by class: scans and
// check-ins are 2% and 4% of the offered load up to 10x (at most 0.2 and
// 0.4 of capacity: the surge is of codes), the rest 84:10 show-code and
// re-issues.
func (p gridPoint) classRates() [4]float64 {
	c := p.capacity()
	total := p.offered * c
	if p.fault == "halved" {
		c /= 2 // scans and check-ins fit the capacity left
	}
	scans, checkins := 0.02*min(p.offered, 10)*c, 0.04*min(p.offered, 10)*c
	rest := total - scans - checkins
	return [4]float64{scans, checkins, rest * 84 / 94, rest * 10 / 94}
}

func (s *gridSim) run() gridResult {
	rates := s.p.classRates()
	var total float64
	for _, r := range rates {
		total += r
	}
	s.surgeRate = total
	next := time.Duration(s.rng.ExpFloat64() / total * float64(time.Second))
	tick := 100 * time.Millisecond
	end := gridDuration + 2*time.Second // arrivals stop at gridDuration: the rest drains
	halvedAt := time.Duration(-1)
	if s.p.fault == "halved" {
		halvedAt = 2 * time.Second
	}
	for s.now < end {
		t := min(next, tick, end)
		if s.now < gridDuration {
			t = min(t, gridDuration)
		}
		if len(s.events) > 0 && s.events[0].at < t {
			t = s.events[0].at
		}
		s.clk.Advance(s.base.Add(t).Sub(s.clk.Now())) // fires queue timeouts on the way
		s.now = t
		s.settle()
		if halvedAt >= 0 && s.now >= halvedAt {
			s.availT = float64(len(s.free)) * s.now.Seconds()
			s.free = s.free[:len(s.free)/2]
			s.availT -= float64(len(s.free)) * s.now.Seconds() // added back in full at the end
			halvedAt = -1
		}
		for len(s.events) > 0 && s.events[0].at <= t {
			e := heap.Pop(&s.events).(gridEvent)
			if e.release {
				e.tok.ReleaseTimed(e.rtt, e.local, e.out)
				s.answer(e)
			} else {
				s.attempt(e.user)
			}
			s.settle()
		}
		for next <= t && next < gridDuration {
			u := s.rng.Float64() * total
			c := 0
			for c < 3 && u >= rates[c] {
				u -= rates[c]
				c++
			}
			s.users = append(s.users, gridUser{class: c, hash: s.rng.Uint64(), first: next})
			s.arrive(len(s.users)-1, next)
			next += time.Duration(s.rng.ExpFloat64() / total * float64(time.Second))
		}
		if next >= gridDuration {
			next = end
		}
		if t == gridDuration {
			s.availT += float64(len(s.free)) * gridDuration.Seconds()
			s.out.busy = s.workT.Seconds() / s.availT
		}
		if t == tick {
			s.sample()
			if gridTrace != "" && strings.Contains(s.p.String(), gridTrace) {
				var st Stats
				s.l.Stats(&st)
				var rej []string
				for _, k := range st.Classes {
					rej = append(rej, fmt.Sprintf("%s q%d adm%.2f rej%v", k.Name, k.QueueDepth, k.Admitting, k.Rejected[1:]))
				}
				fmt.Printf("%5.1f limit %d inflight %d base %v p90 %v local %v | %s\n", s.now.Seconds(), st.Limit, st.InFlight, st.BaselineRTT, st.P90RTT, st.LocalDelay.Round(time.Millisecond), strings.Join(rej, " | "))
			}
			tick += 100 * time.Millisecond
		}
	}
	s.out.inversionSeconds = len(s.invSecond)
	return s.out
}

// delay is the gateway's own delay now, once to parse an attempt and
// again to read its answer: none on its own core; saturated, 25 ms plus
// up to 125 ms as the attempt rate reaches the surge's, ±1/3 (in all,
// 300 ± 100 ms at the surge's full rate, as measured on two shared cores).
func (s *gridSim) delay() time.Duration {
	if !s.p.saturated {
		return 0
	}
	d := 25*time.Millisecond + time.Duration(125*float64(time.Millisecond)*min(1, s.rate/s.surgeRate))
	return time.Duration(float64(d) * (2.0/3 + 2.0/3*s.rng.Float64()))
}

// arrive is an attempt of user u at the gateway at time at: it reaches
// the limiter once parsed.
func (s *gridSim) arrive(u int, at time.Duration) {
	s.users[u].tries++
	s.out.attempts[s.users[u].class]++
	s.tickAttempts++
	heap.Push(&s.events, gridEvent{at: at + s.delay(), user: u})
}

func (s *gridSim) attempt(u int) {
	s.alive++
	us := s.users[u]
	deadline := s.clk.Now().Add(2 * time.Second)
	go func() {
		tok, r := s.l.Acquire(us.class, us.hash, deadline)
		s.res <- gridAcquired{u, tok, r}
	}()
}

// settle waits until every live Acquire has queued or decided, then
// takes the decisions in user order: goroutines woken together (a release
// admitting several waiters, a loss shedding a queue) finish in any order,
// and the simulation must not depend on it.
func (s *gridSim) settle() {
	var got []gridAcquired
	for {
		select {
		case r := <-s.res:
			s.alive--
			got = append(got, r)
			continue
		default:
		}
		if int64(s.alive) == s.l.waiting.Load() {
			// A waiter counts as waiting once queued, before it arms its
			// timer under mu: taking mu waits for that.
			s.l.mu.Lock()
			s.l.mu.Unlock()
			if len(s.res) == 0 && int64(s.alive) == s.l.waiting.Load() {
				break
			}
		}
		runtime.Gosched()
	}
	slices.SortFunc(got, func(a, b gridAcquired) int { return a.user - b.user })
	for _, r := range got {
		s.take(r)
	}
}

func (s *gridSim) take(r gridAcquired) {
	u := &s.users[r.user]
	c := u.class
	if r.r != ReasonNone {
		s.out.shed[c]++
		s.lossAt[c] = s.now + 1 // +1: 0 means never
		if u.tries >= 3 || s.p.client == "patient" {
			s.out.gaveUp[c]++
			return
		}
		back := s.now + s.delay() // the client reads the refusal
		if s.p.client == "polite" {
			back += time.Duration(s.retryAfter(c)) * time.Second
		}
		s.arrive(r.user, back)
		return
	}
	for h := range c {
		if s.lossAt[h] > 0 && int64(s.lossAt[h]-1)/int64(time.Second) == int64(s.now)/int64(time.Second) {
			s.invSecond[int64(s.now)/int64(time.Second)] = true
			break
		}
	}
	// The backend: the least busy worker, FIFO.
	for len(s.inWorker) > 0 && s.inWorker[0].when() <= s.now {
		heap.Pop(&s.inWorker)
	}
	i := 0
	for j, f := range s.free {
		if f < s.free[i] {
			i = j
		}
	}
	if s.free[i] > s.now {
		s.out.maxQueue = max(s.out.maxQueue, len(s.inWorker)+1)
	}
	svc := s.p.service
	if s.p.exp {
		svc = time.Duration(s.rng.ExpFloat64() * float64(svc))
	}
	start := max(s.free[i], s.now)
	s.free[i] = start + svc
	s.workT += svc
	if start > s.now {
		heap.Push(&s.inWorker, workerStart(start))
	}
	answered := s.free[i]
	out := OutcomeOK
	switch s.p.fault {
	case "slow":
		if s.now >= 2*time.Second {
			answered += 200 * time.Millisecond
		}
	case "errors":
		if s.rng.Float64() < 0.2 {
			out = OutcomeIgnore
		}
	}
	d := s.delay()
	heap.Push(&s.events, gridEvent{at: answered + d, user: r.user, release: true, tok: r.tok,
		rtt: answered - s.now, local: d, out: out})
}

// retryAfter is Limiter.RetryAfter drawing from the simulation's source,
// so that runs repeat.
func (s *gridSim) retryAfter(c int) int {
	var ahead float64
	for i, k := range s.l.classes.Load().list {
		if i > c {
			break
		}
		ahead += float64(k.depth.Load()) + math.Float64frombits(k.rejRate.Load())
	}
	return retryAfter(ahead, math.Float64frombits(s.l.drain.Load()), s.rng.Float64(), s.rng.Float64())
}

// answer is the gateway reading an answer: the client has it a moment
// later (writing it back is as late as reading it).
func (s *gridSim) answer(e gridEvent) {
	u := &s.users[e.user]
	s.answeredSum += e.rtt
	s.answeredN++
	if e.out == OutcomeOK && e.at-u.first <= time.Second {
		s.out.served[u.class]++
	} else if e.out == OutcomeOK {
		s.out.late[u.class]++
	} else {
		s.out.failed[u.class]++
	}
}

// sample ends a 100 ms tick: the attempt rate, and the limit if the
// backend answered within 1.2x its unloaded time.
func (s *gridSim) sample() {
	s.rate = float64(s.tickAttempts) * 10
	s.tickAttempts = 0
	unloaded := s.p.service
	if s.p.fault == "slow" && s.now >= 2*time.Second {
		unloaded += 200 * time.Millisecond
	}
	if s.answeredN > 0 && s.answeredSum/time.Duration(s.answeredN) <= unloaded*12/10 {
		var st Stats
		s.l.Stats(&st)
		s.out.minLimit = min(s.out.minLimit, st.Limit*s.p.workers/len(s.free)) // in terms of the workers at start
		s.out.limitSamples++
	}
	s.answeredSum, s.answeredN = 0, 0
}

// gridPoints is the whole grid.
func gridPoints() []gridPoint {
	var ps []gridPoint
	type svc struct {
		d   time.Duration
		exp bool
	}
	services := []svc{{5 * time.Millisecond, false}, {20 * time.Millisecond, false}, {20 * time.Millisecond, true}, {100 * time.Millisecond, false}}
	for _, w := range []int{5, 20, 50} {
		for _, sv := range services {
			for _, off := range []float64{2, 10, 30} {
				for _, cl := range []string{"patient", "impatient", "polite"} {
					for _, sat := range []bool{false, true} {
						ps = append(ps, gridPoint{workers: w, service: sv.d, exp: sv.exp, offered: off, client: cl, saturated: sat})
					}
				}
			}
			ps = append(ps,
				gridPoint{workers: w, service: sv.d, exp: sv.exp, offered: 10, client: "impatient", fault: "errors"},
				gridPoint{workers: w, service: sv.d, exp: sv.exp, offered: 10, client: "impatient", fault: "halved"},
				gridPoint{workers: w, service: sv.d, exp: sv.exp, offered: 0.6, client: "impatient", fault: "slow"})
		}
	}
	return ps
}

// gridCeilings is, per criterion, how many grid points failed it when the
// grid was last measured (commit this with the grid's figures): the grid
// test fails when a change makes more points fail any criterion, and
// lowering a ceiling records progress. The admission issue asks for zero
// everywhere; docs/admission-runs.md says where the grid stands.
var gridCeilings = map[string]int{
	"scans served":     1,
	"check-ins served": 70,
	"inversions":       16,
	"backend busy":     74,
	"backend queue":    90,
	"limit":            8,
	"spare shed":       10,
	"errors shed":      0,
}

// TestAdmissionGrid runs the grid and checks every point against the
// admission issue's criteria: scans >= 99.9% and check-ins >= 99% served
// within 1 s; no second in which a lower class is admitted after a higher
// one lost a request; the backend >= 90% busy when offered >= 2x; its
// queue never past 3x its workers; the limit never below half the
// workers while the backend answers within 1.2x its unloaded time. With
// faults: 20% errors shed <= 1% of scans; a slower backend with spare
// capacity sheds nothing. Each point's figures are a FIGURE line (-v);
// the points failing each criterion are counted against gridCeilings.
func TestAdmissionGrid(t *testing.T) {
	points := gridPoints()
	only := os.Getenv("SHEDGATE_GRID")
	if only != "" {
		var keep []gridPoint
		for _, p := range points {
			if strings.Contains(p.String(), only) {
				keep = append(keep, p)
			}
		}
		points = keep
	}
	failing := map[string]int{}
	passing := 0
	for _, p := range points {
		r := newGridSim(t, p, 1).run()
		var bad []string
		check := func(criterion string, ok bool, format string, args ...any) {
			if !ok {
				failing[criterion]++
				bad = append(bad, fmt.Sprintf(format, args...))
			}
		}
		switch p.fault {
		case "errors":
			check("errors shed", r.shedShare(0) <= 0.01, "scans shed %.2f%% > 1%%", 100*r.shedShare(0))
		case "slow":
			n := 0
			for c := range 4 {
				n += r.shed[c]
			}
			check("spare shed", n == 0, "%d attempts shed with spare capacity", n)
		default:
			check("scans served", r.share(0) >= 0.999, "scans served %.2f%% < 99.9%%", 100*r.share(0))
			check("check-ins served", r.share(1) >= 0.99, "check-ins served %.2f%% < 99%%", 100*r.share(1))
			check("inversions", r.inversionSeconds == 0, "%d inversion seconds", r.inversionSeconds)
			check("backend busy", r.busy >= 0.9, "backend %.1f%% busy < 90%%", 100*r.busy)
		}
		if p.fault != "slow" {
			check("backend queue", r.maxQueue <= 3*p.workers, "backend queue %d > 3x %d workers", r.maxQueue, p.workers)
		}
		if r.limitSamples > 0 {
			check("limit", 2*r.minLimit >= p.workers, "limit %d < half of %d workers while the backend answered within 1.2x", r.minLimit, p.workers)
		}
		if len(bad) == 0 {
			passing++
		}
		if testing.Verbose() {
			t.Logf("FIGURE grid %s: scans %.2f%% check-ins %.2f%% normal %.1f%% low %.1f%% served; busy %.1f%%; queue max %d; limit min %d; inversion s %d%s",
				p, 100*r.share(0), 100*r.share(1), 100*r.share(2), 100*r.share(3), 100*r.busy, r.maxQueue, r.minLimit, r.inversionSeconds, failNote(bad))
		}
	}
	t.Logf("FIGURE grid points meeting every criterion: %d of %d", passing, len(points))
	for _, k := range []string{"scans served", "check-ins served", "inversions", "backend busy", "backend queue", "limit", "spare shed", "errors shed"} {
		t.Logf("FIGURE grid points failing %s: %d (ceiling %d)", k, failing[k], gridCeilings[k])
		if only == "" && failing[k] > gridCeilings[k] {
			t.Errorf("%d grid points fail %q, more than the %d recorded: a change made admission worse somewhere", failing[k], k, gridCeilings[k])
		}
	}
}

func failNote(bad []string) string {
	if len(bad) == 0 {
		return ""
	}
	return " -- fails: " + strings.Join(bad, "; ")
}

// TestASilenceBeforeSlowerAnswersIsNotAQueue: a backend with spare
// capacity that gets 200 ms slower answers nothing for 200 ms, then
// answers everything 200 ms late. A queueing backend answers at its
// capacity, so the silence says it got slower, not busier
// (controller.silence): the limit holds the new round trip's requests
// (Little's law) and nothing is shed. Before the rule the gradient cut
// the limit for two seconds (w50/20ms-exp shed 10,890 attempts). At 5
// ms service the silence is 40 service times: requests queue and the
// level sheds while it lasts, and it reopens once the silence is read
// (w20/5ms-const shed 11,817 attempts without that).
func TestASilenceBeforeSlowerAnswersIsNotAQueue(t *testing.T) {
	for _, p := range []gridPoint{
		{workers: 5, service: 100 * time.Millisecond, offered: 0.6, client: "impatient", fault: "slow"},
		{workers: 50, service: 20 * time.Millisecond, exp: true, offered: 0.6, client: "impatient", fault: "slow"},
	} {
		s := newGridSim(t, p, 1)
		r := s.run()
		var st Stats
		s.l.Stats(&st)
		shed := r.shed[0] + r.shed[1] + r.shed[2] + r.shed[3]
		need := p.offered * p.capacity() * (p.service + 200*time.Millisecond).Seconds()
		t.Logf("%v: %d attempts shed; baseline %v, limit %d (Little's law: %.0f)", p, shed, st.BaselineRTT, st.Limit, need)
		if shed != 0 {
			t.Errorf("%v: %d attempts shed with spare capacity; want none", p, shed)
		}
		if st.Silences == 0 {
			t.Errorf("%v: Stats.Silences 0; want the silence read", p)
		}
		if st.BaselineRTT < 200*time.Millisecond || float64(st.Limit) < need {
			t.Errorf("%v: baseline %v, limit %d; want the baseline past 200 ms and the limit at least %.0f", p, st.BaselineRTT, st.Limit, need)
		}
	}
	p := gridPoint{workers: 20, service: 5 * time.Millisecond, offered: 0.6, client: "impatient", fault: "slow"}
	r := newGridSim(t, p, 1).run()
	shed, attempts := r.shed[0]+r.shed[1]+r.shed[2]+r.shed[3], r.attempts[0]+r.attempts[1]+r.attempts[2]+r.attempts[3]
	t.Logf("%v: %d of %d attempts shed", p, shed, attempts)
	if shed*10 > attempts {
		t.Errorf("%v: %d of %d attempts shed; want at most a tenth: the level must reopen once the silence is read", p, shed, attempts)
	}
}
