package limiter

import (
	"math"
	"slices"
	"time"
)

const (
	// poolSamples and poolSpan bound the samples pooled for one baseline
	// p90 (controller.pool).
	poolSamples = 400
	poolSpan    = time.Second
	// maxWindowSamples bounds the RTT samples kept per window; beyond it
	// the window keeps a uniform reservoir.
	maxWindowSamples = 1024
	// historyLen is how many recent windows the rebase check looks back on.
	historyLen = 8
	// chainLen bounds the halving steps of one probe (2^16 > any limit).
	chainLen = 16
	// floorRuns is how many windows at MinLimit with latency still above
	// tolerance make the controller accept the latency as the new baseline.
	floorRuns = 3
	// stuckRuns is how many windows at MinLimit with latency above
	// tolerance rebase even though the fastest answers are still fast.
	stuckRuns = 30
	// rebaseImprove: a halving of in-flight that improves the p90 by less
	// than 10% says the latency is not ours.
	rebaseImprove = 0.9
	// cutSmoothing is the share of the gradient's cut applied per window.
	cutSmoothing = 0.5
	// rateSpan is how long a window's delivery rate counts towards the
	// best recent rate (effective); rateSlots bounds the windows
	// remembered.
	rateSpan  = 2 * time.Second
	rateSlots = 32
	// headroom: the limit never exceeds this many times the most requests
	// a window had in flight (nor MinLimit).
	headroom = 2
)

// ctlConfig is the controller's part of Config, defaults applied.
type ctlConfig struct {
	minLimit, maxLimit float64
	window             time.Duration // SampleWindow
	minSamples         int
	tolerance          float64
	backoff            float64
	dropTolerance      float64
	baselineWindow     time.Duration
	probeInterval      time.Duration
}

// point is one window's (concurrency, p90 RTT) pair.
type point struct {
	limit float64
	p90   time.Duration
}

// controller computes the adaptive concurrency limit from RTT samples and
// outcomes, one sample window at a time (see the package doc for the
// algorithm). It is not safe for concurrent use: Limiter.cmu guards it.
type controller struct {
	cfg ctlConfig

	limit float64 // the estimated limit
	cap   float64 // while probing: the lowered limit in force; 0 otherwise

	// The current sample window. Only requests admitted in this window's
	// epoch give RTT samples, so a window never measures the queueing left
	// over from an earlier, higher limit.
	epoch       uint64
	winStart    time.Time
	armed       bool // probing: in-flight has drained under cap, window runs
	samples     []time.Duration
	seen        int           // OK samples offered this window (reservoir size)
	rttSum      time.Duration // of the seen samples: their mean
	overloads   int           // OutcomeOverload releases this window, any epoch
	maxInflight float64

	baseline minWindow // windowed minimum of pooled p90s: the no-queue RTT
	// pool gathers the samples of consecutive windows until poolSamples
	// or poolSpan, so that each p90 the baseline takes rests on enough
	// samples: the minimum of many noisy p90s is biased low.
	pool      []time.Duration
	poolStart time.Time
	minRTT    minWindow // windowed minimum of single samples: deadline checks
	lastP90   time.Duration
	lastDur   time.Duration // length of the last completed window

	rateStart time.Time
	rateCount int
	drainRate float64 // releases per second, smoothed
	rates     [rateSlots]struct {
		at time.Time
		r  float64 // OK completions per second over one window
	}
	rateN  int // windows recorded in rates, ring position
	okSeen int // OK completions since rateStart
	// local is the mean local delay (ReleaseTimed) of the last window's
	// releases, rtt the backend's mean round trip smoothed per window;
	// localSum and localN, this window's.
	local, rtt time.Duration
	localSum   time.Duration
	localN     int

	hist     [historyLen]point // recent normal windows: (max in-flight, p90)
	histN    int
	floorRun int

	windows int // windows completed since init

	probeDue time.Time
	chain    [chainLen]point // the probe's halving steps: (limit, p90)
	lastMean time.Duration   // the mean RTT at the chain's last level
	chainN   int

	rng uint64

	// slowStart: a window within tolerance that used the limit doubles
	// it (TCP's slow start), up to ssthresh (InitialLimit), until the
	// first window above tolerance. Starting at InitialLimit, a limit ten
	// times too high queued nine requests per worker in the first round
	// trip (TestAdmissionGrid's queue criterion).
	slowStart bool
	ssthresh  float64

	// limited: the limit made a request wait or turned one away this
	// window; levelOpen: the admission level admitted every class at the
	// last release. Set by the Limiter (see used).
	limited, levelOpen bool

	// A silence: lastSent is the newest admission answered so far and
	// progress when it was; stallSlots the slots that the round trip of
	// the first answer after a silence holds beyond the baseline (see
	// silence), kept until stallEnd's window ends.
	lastSent, progress time.Time
	quietN             int // answers since progress (stragglers)
	stallSlots         float64
	stallEnd           time.Time
	silences           uint64 // silences read (Stats.Silences)

	// urgency is how many classes that are neither bulk nor the lowest
	// rank at or below the most important class its gateway sheds or
	// loses: it raises the
	// latency the gradient tolerates (see tolerance). Set by the Limiter
	// (Limiter.urgency) before each release.
	urgency int
}

// urgencyStep is how much each class of urgency adds to the tolerance's
// excess over 1: with the default 1.2, a gateway losing the high class
// tolerates 1.4, one losing the critical class 1.6
// (TestLosingAnUpperClassToleratesMoreLatency, TestSeveralGatewaysSimulated).
const urgencyStep = 1.0

// tolerance is the p90/baseline ratio above which a window cuts the
// limit: the configured tolerance, raised for a gateway that sheds or
// loses a more important class than the shedding every gateway does in a
// surge (Limiter.urgency). Several gateways in front of one backend then
// share it by priority without talking: LEDBAT's scavenger rule turned
// into a ranking, a flow with a lower delay target yields a bottleneck to
// one with a higher target. The gateway losing the high class keeps its
// slots while the shared p90 is within 1.4x of its baseline; the gateways
// that only shed a bulk class cut above 1.2x, and their slots go to it.
func (c *controller) tolerance() float64 { return c.toleranceAt(c.urgency) }

// toleranceAt is the tolerance at urgency u.
func (c *controller) toleranceAt(u int) float64 {
	return 1 + (c.cfg.tolerance-1)*(1+urgencyStep*float64(u))
}

// Slow start begins at InitialLimit / slowStartShare, at least
// slowStartFrom (within MinLimit and InitialLimit): a guess ten times too
// high does not flood the backend in the first round trip
// (TestAdmissionGrid), and a fresh gateway's cold misses are not shed
// while it grows (TestRollingRestartKeepsHotCodesServed; from 4, 245 of
// 6,000 were shed).
const (
	slowStartShare = 8
	slowStartFrom  = 16
)

func (c *controller) init(cfg ctlConfig, initial float64, now time.Time) {
	c.cfg = cfg
	c.ssthresh = c.clamp(initial)
	c.limit = c.clamp(math.Min(initial, math.Max(slowStartFrom, initial/slowStartShare)))
	c.slowStart = true
	c.samples = make([]time.Duration, 0, maxWindowSamples)
	c.pool = make([]time.Duration, 0, poolSamples)
	c.poolStart = now
	c.baseline.init(cfg.baselineWindow, now)
	c.minRTT.init(cfg.baselineWindow, now)
	c.rng = uint64(now.UnixNano()) | 1
	c.rateStart = now
	c.probeDue = now // no baseline yet: probe after the first window
	c.startWindow(now)
}

// reconfigure applies new settings, keeping the limit (clamped), the RTT
// estimates and any probe in progress.
func (c *controller) reconfigure(cfg ctlConfig, now time.Time) {
	if cfg.baselineWindow != c.cfg.baselineWindow {
		c.baseline.rescale(cfg.baselineWindow, now)
		c.minRTT.rescale(cfg.baselineWindow, now)
	}
	c.cfg = cfg
	c.limit = c.clamp(c.limit)
	if c.cap > 0 {
		c.cap = c.clamp(c.cap)
	}
}

// effective returns the limit admission uses now: the limit (a probe's
// cap while probing) for requests at the backend, plus the slots that the
// caller's own delay on top of each round trip holds (Little's law): the
// delay times the best delivery rate of the last rateSpan. Without them
// a gateway slow to read answers holds each slot longer than the backend
// does, and its limit starves an idle backend
// (TestGatewayDelayIsNotBackendLatency). The backend holds the limit
// whatever the rate, so a low rate does not keep itself low; adding the
// slots at limit / rtt too, a rate the backend cannot deliver past its
// workers, flooded it when slow start doubled (TestAdmissionGrid).
func (c *controller) effective(now time.Time) int64 {
	l := c.limit
	if c.cap > 0 {
		l = c.cap
	}
	return int64(math.Min(l+c.localSlots(now)+c.stallSlots, c.cfg.maxLimit))
}

// localSlots is the slots the caller's own delay holds beside the limit
// (see effective).
func (c *controller) localSlots(now time.Time) float64 {
	if c.local <= 0 {
		return 0
	}
	return c.bestRate(now) * c.local.Seconds()
}

// scale is how many slots one request at the backend holds now, its
// caller's own delay included (effective over the limit).
func (c *controller) scale(now time.Time) float64 {
	if c.local <= 0 || c.limit <= 0 {
		return 1
	}
	return 1 + c.localSlots(now)/c.limit
}

// addLocal takes one release's local delay into the window's mean.
func (c *controller) addLocal(d time.Duration) {
	c.localSum += max(d, 0)
	c.localN++
}

func (c *controller) clamp(x float64) float64 {
	return math.Min(math.Max(x, c.cfg.minLimit), c.cfg.maxLimit)
}

func (c *controller) startWindow(now time.Time) {
	c.epoch++
	c.winStart = now
	c.samples = c.samples[:0]
	c.seen, c.overloads, c.maxInflight = 0, 0, 0
	c.limited = false
	c.rttSum = 0
}

// onRelease takes one finished request: its admission epoch, RTT, outcome
// and the in-flight count just before its release. It returns true when
// state visible to admission changed (epoch, limit, estimates).
//
// A probe's cap is compared with in-flight less the slots held by the
// caller's own delay, or a slow caller never sees in-flight drain under
// it (over scale, a probe waited for ever once the slots stopped scaling
// with the limit: TestAdmissionGrid). The window's most in flight is
// taken over scale (endWindow): less the slots, 14 grid points failed
// scans against 8.
func (c *controller) onRelease(now time.Time, epoch uint64, rtt time.Duration, o Outcome, inflight int64) bool {
	c.rateCount++
	c.maxInflight = max(c.maxInflight, float64(inflight))
	left := float64(inflight-1) / c.scale(now)
	if c.cap > 0 && !c.armed {
		left = math.Max(0, float64(inflight-1)-c.localSlots(now)-c.stallSlots)
		// A probe waits for the requests admitted under the old limit to
		// drain below the cap before it measures anything.
		if left <= c.cap {
			c.startWindow(now)
			c.armed = true
			return true
		}
		return false
	}
	switch o {
	case OutcomeOK:
		c.okSeen++
		if epoch == c.epoch && rtt > 0 {
			c.addSample(rtt)
		}
	case OutcomeOverload:
		c.overloads++
	}
	if now.Sub(c.winStart) < c.cfg.window || c.seen+c.overloads < c.minWindowSamples() {
		return false
	}
	c.endWindow(now, left)
	return true
}

func (c *controller) addSample(rtt time.Duration) {
	c.seen++
	c.rttSum += rtt
	if len(c.samples) < cap(c.samples) {
		c.samples = append(c.samples, rtt)
		return
	}
	if j := c.rand() % uint64(c.seen); j < uint64(len(c.samples)) {
		c.samples[j] = rtt
	}
}

// endWindow closes the current window and decides the next limit.
func (c *controller) endWindow(now time.Time, inflight float64) {
	c.lastDur = now.Sub(c.winStart)
	c.updateRate(now)
	if c.localN > 0 {
		// The last window's, not smoothed: a saturated gateway's delay
		// grows with the surge, and slots that lag it starve the higher
		// classes (TestAdmissionGrid).
		c.local = c.localSum / time.Duration(c.localN)
		c.localSum, c.localN = 0, 0
	}
	if m := c.meanRTT(); m > 0 && c.rtt > 0 {
		c.rtt = (c.rtt + m) / 2
	} else if m > 0 {
		c.rtt = m
	}
	if c.baseline.min(now) == 0 {
		c.probeDue = now // the baseline expired or never existed: re-measure it
	}
	p90, lo := c.quantiles()
	fastest := c.minRTT.min(now) // before this window's
	if lo > 0 {
		c.minRTT.add(now, lo)
	}
	if p90 > 0 {
		c.lastP90 = p90
	}
	c.pour(now, c.windows == 0 || c.cap > 0)
	c.windows++
	// In the backend's terms, as the limit: counting the slots held by
	// the caller's own delay as use let a saturated gateway's limit grow
	// while the backend had a tenth of it (TestAdmissionGrid).
	c.maxInflight /= c.scale(now)
	post := !c.stallEnd.IsZero() && c.winStart.After(c.stallEnd)
	switch {
	case post:
		c.afterStall(now, p90, lo, fastest)
		c.startWindow(now)
	case c.stallSlots > 0 && c.cap == 0:
		// A window that met a silence measured it, not our queue.
		c.startWindow(now)
	case c.windows == 1:
		// Warm-up: its requests met an idle backend, so its p90 says
		// nothing about the limit yet. It seeds the baseline; the probe
		// due after it measures the limit. Doubling here too queued 27
		// requests on 5 workers (TestFirstSecondsKeepTheQueueShort).
		c.startWindow(now)
	case c.cap > 0:
		c.probeStep(now, p90, inflight)
	case p90 > 0 && !now.Before(c.probeDue) && c.startProbe(now, p90, inflight):
	default:
		c.adjust(now, p90, lo, fastest)
		c.startWindow(now)
	}
}

// adjust is the gradient step of a normal window.
func (c *controller) adjust(now time.Time, p90, lo, fastest time.Duration) {
	L := c.limit
	b := c.baseline.min(now)
	run := c.floorRun
	c.floorRun = 0
	switch {
	case c.overloads > 0 && float64(c.overloads) > c.cfg.dropTolerance*float64(c.seen+c.overloads):
		c.limit = L * c.cfg.backoff
	case p90 == 0 || b == 0:
	default:
		// q > 1: the p90 is past the tolerance, and past the queue
		// that the jitter of the caller's own delay requires.
		q := float64(p90) / (float64(b)*c.tolerance() + float64(c.jitterSlack(now)))
		switch {
		case q > 1:
			c.slowStart = false
			if L <= c.cfg.minLimit {
				c.floorRun = run + 1
			}
			if c.rebase(math.Min(L, c.maxInflight), p90) && (c.slower(lo, fastest) || c.floorRun >= stuckRuns) {
				c.rebaseTo(now, p90, lo)
				c.restart(now, L)
				break
			}
			// Half of the gradient step each window: RTT is not always
			// linear in in-flight (workers in lockstep queue a whole
			// service time), and halving on one window overshoots.
			g := math.Max(0.5, 1/q)
			c.limit = L * (1 - cutSmoothing + cutSmoothing*g)
		case c.used(L) && c.slowStart && L < c.ssthresh:
			c.limit = math.Min(2*L, c.ssthresh)
		case c.used(L):
			// Grow only when the limit was used: an app-limited window
			// says nothing about what the backend could take. Under
			// light load the limit then keeps about twice what bursts
			// reach (at 0.5x C it drifts from 11 to 18 in a minute).
			// Growing only past 90% removed that drift but let RTT noise
			// at light load press the limit down to what the load used
			// (100 to 2 at 300 req/s on a 1 ms backend), and a stall
			// then shed requests.
			c.limit = L + math.Max(1, math.Sqrt(L)/2)
		}
	}
	c.limit = c.clamp(math.Min(c.limit, math.Max(headroom*c.maxInflight, c.cfg.minLimit)))
	copy(c.hist[1:], c.hist[:historyLen-1])
	// The concurrency the window's samples met: admissions stop at the
	// limit, even while requests admitted under a higher one drain.
	c.hist[0] = point{math.Min(L, c.maxInflight), p90}
	c.histN = min(c.histN+1, historyLen)
}

// used reports whether a window used limit L: the limit made a request
// wait or turned one away, or, while the level admits every class,
// in-flight reached half of it (Gradient2's rule). While the level sheds
// a class at arrival, in-flight says what the level let through, not
// what the backend could take: a class hold let a saturated gateway's
// limit grow, and it flooded the backend when the hold ended
// (TestAdmissionGrid).
func (c *controller) used(L float64) bool {
	return c.limited || c.levelOpen && c.maxInflight >= L/2
}

// restart follows a rebase: a slower backend holds more requests for
// the same rate (Little's law), so slow start resumes up to what the best
// delivery rate of the last rateSpan needs at the window's mean round
// trip, with tolerance to spare (TestBenchSlowerBackend). Not while the
// caller's own delay is a quarter of the round trip or more: a saturated
// gateway's rebases come from its delay's jitter (TestAdmissionGrid).
func (c *controller) restart(now time.Time, l float64) {
	need := c.tolerance() * c.bestRate(now) * c.meanRTT().Seconds()
	if need > l && 4*c.local < c.rtt {
		c.ssthresh, c.slowStart = c.clamp(need), true
	}
}

// rebaseTo makes p90 the baseline and lo the fastest answer, dropping
// the pooled samples and the history of the faster backend.
func (c *controller) rebaseTo(now time.Time, p90, lo time.Duration) {
	c.baseline.reset(now, p90)
	c.pool, c.poolStart = c.pool[:0], now
	c.minRTT.reset(now, lo)
	c.histN, c.floorRun = 0, 0
}

// rebase reports whether latency above tolerance is not caused by our own
// concurrency: in-flight has at least halved within the recent windows
// while the p90 stayed within 10% (and in that band in every window
// since), or the limit sits at the floor. Then the backend itself got
// slower and the baseline must follow. A p90 that got much worse after
// halving is the queue of an earlier, higher limit draining
// (TestRebaseNeedsFlatLatency).
func (c *controller) rebase(inflight float64, p90 time.Duration) bool {
	if c.floorRun >= floorRuns {
		return true
	}
	worst := p90 // the highest p90 since the window compared with
	for _, h := range c.hist[:c.histN] {
		if inflight <= h.limit/2 && float64(p90) >= rebaseImprove*float64(h.p90) &&
			rebaseImprove*float64(worst) <= float64(h.p90) {
			return true
		}
		worst = max(worst, h.p90)
	}
	return false
}

// startProbe begins a probe after a window with limit c.limit and the given
// p90: the limit is halved for one window to measure the no-queue RTT. It
// returns false (and schedules the next probe) when there is nothing to
// learn because the window was already light.
func (c *controller) startProbe(now time.Time, p90 time.Duration, inflight float64) bool {
	c.probeDue = now.Add(c.jitter(c.cfg.probeInterval))
	capL := math.Max(c.cfg.minLimit, math.Floor(c.limit/2))
	if capL >= c.limit || c.maxInflight <= capL {
		return false
	}
	c.flush(now)
	c.chain[0], c.lastMean = point{c.limit, p90}, c.meanRTT()
	c.chainN, c.histN = 1, 0
	c.cap = capL
	c.startWindow(now)
	c.armed = inflight <= c.cap
	return true
}

// probeStep ends one probe window. If halving the limit cut the mean RTT
// by more than chainRatio, the previous level was queueing: halve again,
// unless this level's mean is within tolerance of the fastest answer
// (halving a lockstep backend's 5 workers to 2 failed TestAdmissionGrid's
// limit criterion: TestFirstSecondsKeepTheQueueShort). Else the probe is
// over and the limit becomes the best Little's-law estimate of the chain,
// limit × tolerance × baseline / p90, never above a level tried. The mean
// decides, not the p90: just above the knee of a lockstep backend the p90
// exaggerates a queue of one, and probes went on halving
// (TestControllerConverges).
func (c *controller) probeStep(now time.Time, p90 time.Duration, inflight float64) {
	mean := c.meanRTT()
	if p90 > 0 && mean > 0 && float64(c.lastMean) > c.chainRatio()*float64(mean) && c.cap > c.cfg.minLimit && c.chainN < chainLen &&
		float64(mean) > c.cfg.tolerance*float64(c.minRTT.min(now)) {
		c.chain[c.chainN], c.lastMean = point{c.cap, p90}, mean
		c.chainN++
		c.cap = math.Max(c.cfg.minLimit, math.Floor(c.cap/2))
		c.startWindow(now)
		c.armed = inflight <= c.cap
		return
	}
	b := c.baseline.min(now)
	best := c.cfg.minLimit
	for _, p := range c.chain[:c.chainN] {
		l := p.limit
		if b > 0 && p.p90 > 0 {
			l *= math.Min(1, c.tolerance()*float64(b)/float64(p.p90))
		}
		best = math.Max(best, l)
	}
	c.limit = c.clamp(best)
	c.cap, c.chainN = 0, 0
	c.startWindow(now)
}

// pour adds the window's samples to the pool and flushes it when full,
// old, or at once (the warm-up, probe windows: each its own measure).
func (c *controller) pour(now time.Time, alone bool) {
	c.pool = append(c.pool, c.samples[:min(len(c.samples), cap(c.pool)-len(c.pool))]...)
	if alone || len(c.pool) >= poolSamples || now.Sub(c.poolStart) >= poolSpan {
		c.flush(now)
	}
}

// flush takes the pool's p90 into the baseline and empties it.
func (c *controller) flush(now time.Time) {
	if n := len(c.pool); n >= c.cfg.minSamples {
		slices.Sort(c.pool)
		i := (9*n + 9) / 10
		if c.windows == 0 {
			// The warm-up's few samples: the one at rank 0.9(n+1),
			// rounded up (of ten, the largest). A p90 of few samples
			// errs low, and a minimum would keep it; erring high is
			// undone by the next pool (TestControllerConverges).
			i = min((9*(n+1)+9)/10, n)
		}
		c.baseline.add(now, c.pool[i-1])
	}
	c.pool, c.poolStart = c.pool[:0], now
}

// meanRTT is the mean RTT of the current window's samples, or 0.
func (c *controller) meanRTT() time.Duration {
	if c.seen == 0 {
		return 0
	}
	return c.rttSum / time.Duration(c.seen)
}

// chainRatio is how much halving in-flight must cut the mean RTT for a
// probe to halve again: clearly more than tolerance, so that noise does not
// deepen probes; any value in (tolerance, 2) finds the same limit on a
// linear backend, since the result is the best estimate over all levels
// tried.
func (c *controller) chainRatio() float64 {
	return math.Max(1.5, 1.25*c.cfg.tolerance)
}

// quantiles returns the window's p90 and minimum RTT, or zeros.
func (c *controller) quantiles() (p90, lo time.Duration) {
	n := len(c.samples)
	if n == 0 {
		return 0, 0
	}
	slices.Sort(c.samples)
	return c.samples[(9*n+9)/10-1], c.samples[0]
}

func (c *controller) updateRate(now time.Time) {
	d := now.Sub(c.rateStart)
	if d <= 0 {
		return
	}
	slot := &c.rates[c.rateN%rateSlots]
	slot.at, slot.r = now, float64(c.okSeen)/d.Seconds()
	c.rateN++
	c.okSeen = 0
	r := float64(c.rateCount) / d.Seconds()
	if c.drainRate == 0 {
		c.drainRate = r
	} else {
		c.drainRate = 0.5*c.drainRate + 0.5*r
	}
	c.rateStart, c.rateCount = now, 0
}

// bestRate is the best delivery rate (OK completions per second) of the
// windows of the last rateSpan.
func (c *controller) bestRate(now time.Time) float64 {
	var best float64
	for i := range min(c.rateN, rateSlots) {
		if s := c.rates[i]; now.Sub(s.at) <= rateSpan {
			best = math.Max(best, s.r)
		}
	}
	return best
}

// jitter returns d spread uniformly over [0.75d, 1.25d), so that gateways
// started together do not probe together.
func (c *controller) jitter(d time.Duration) time.Duration {
	u := float64(c.rand()>>11) / (1 << 53)
	return time.Duration(float64(d) * (0.75 + 0.5*u))
}

// rand is xorshift64*: cheap, allocation-free, good enough for sampling.
func (c *controller) rand() uint64 {
	c.rng ^= c.rng >> 12
	c.rng ^= c.rng << 25
	c.rng ^= c.rng >> 27
	return c.rng * 2685821657736338717
}

// slower reports whether a window's fastest answer, lo, says the backend
// itself got slower: it took longer than tolerance × the fastest of the
// baseline window before it. Queueing shows in the p90 but leaves some
// answers as fast as ever, so latency that other gateways add at a shared
// backend is not taken for a slower backend (TestRebaseNeedsSlowerAnswers,
// TestUncoordinatedBaselinesHold).
func (c *controller) slower(lo, fastest time.Duration) bool {
	return fastest == 0 || float64(lo) > c.cfg.tolerance*float64(fastest)
}

// jitterSlack is the queueing delay that the jitter of the caller's own
// delay requires: the answers waiting to be read are a count of mean
// localSlots and, arriving as a Poisson stream, of standard deviation its
// square root (M/G/inf); two of them queued at the backend keep it busy
// while the count swings (TestGatewayDelayIsNotBackendLatency: 87% busy
// without). Zero when the caller reads at once.
func (c *controller) jitterSlack(now time.Time) time.Duration {
	slots := c.localSlots(now)
	if slots <= 0 {
		return 0
	}
	return time.Duration(2 * math.Sqrt(slots) / c.bestRate(now) * float64(time.Second))
}

// minWindowSamples is how many samples end a window: MinSamples, and half
// the limit in force, so that a window does not end on the answers of the
// requests that met idle workers before those that queued (slow start
// doubled 62 to 248 on 50 workers of 100 ms, every window's p90 100 ms:
// TestFirstSecondsKeepTheQueueShort).
func (c *controller) minWindowSamples() int {
	l := c.limit
	if c.cap > 0 {
		l = c.cap
	}
	return max(c.cfg.minSamples, int(l/2))
}
