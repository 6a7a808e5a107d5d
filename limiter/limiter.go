package limiter

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors. Errors from New and Reconfigure wrap ErrConfig with the
// field at fault.
var (
	ErrConfig = errors.New("limiter: invalid config")
	ErrClosed = errors.New("limiter: closed")
)

// ClassConfig configures one priority class.
type ClassConfig struct {
	// Name identifies the class in stats and across Reconfigure. Required,
	// unique.
	Name string
	// MaxQueue bounds the requests of this class waiting for a slot. Zero
	// means no queue: a request that finds no free slot is rejected at once.
	MaxQueue int
	// MaxWait bounds the time a request of this class waits for a slot.
	// Default DefaultMaxWait.
	MaxWait time.Duration
	// Bulk marks a class that every gateway sheds first in a surge (in a
	// code service, showing a code as against scanning one). A slot
	// nobody waits for goes at once to a bulk user within a demand rank
	// of the admission level, and to its other users only once left free
	// a while (leftFree), so that the backend's share goes to the fetches
	// the cache will reuse; a user the level cuts off in a class that is
	// not bulk takes it at once. Shedding a bulk class
	// raises no gateway's latency tolerance (controller.tolerance).
	Bulk bool
}

// The values a zero field of Config or ClassConfig stands for (a zero
// MaxQueue is no queue). configs gives a gateway config the same ones,
// read from here.
const (
	DefaultInitialLimit = 20
	DefaultMinLimit     = 2
	DefaultMaxLimit     = 1000
	DefaultMaxWait      = time.Second
)

// Config configures a Limiter. Every field's zero value means its
// documented default; only Classes is required.
type Config struct {
	// InitialLimit is a guess at the backend's concurrency, clamped to
	// [MinLimit, MaxLimit]: slow start begins at an eighth of it (at least
	// 16) and doubles the limit each window that used it within tolerance,
	// up to InitialLimit or the first window above tolerance. Default 20.
	InitialLimit int
	// MinLimit is the floor of the adaptive limit. Default 2.
	MinLimit int
	// MaxLimit is the ceiling of the adaptive limit. Default 1000.
	MaxLimit int
	// Classes are the priority classes, highest priority first. At least
	// one.
	Classes []ClassConfig

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// AfterFunc starts the timers that bound queue waits. Default
	// time.AfterFunc. A test that fakes Now fakes this too.
	AfterFunc func(d time.Duration, f func()) Timer
	// OnLoss, if set, is told the class of each request that lost in a
	// queue after the admission level let it in (the event that sheds
	// every lower class at once), and of each request of the class the
	// level cuts through that it sheds at arrival, so that a fleet of
	// gateways can tell each other (ShedBelow): while a class loses
	// requests anywhere, no lower class is served anywhere. It runs on the
	// request path: it must be cheap and must not block. Default: none.
	OnLoss func(class int)

	// SampleWindow is the shortest time between two limit updates.
	// Default 100ms.
	SampleWindow time.Duration
	// MinSamples is the fewest completions (samples or overloads) a window
	// needs before it updates the limit, and at least half the limit; a
	// window lasts until it has them.
	// Fewer make the p90 noisier; more slow a gateway holding a small share
	// of a shared backend (TestSeveralGatewaysSimulated). Default 10.
	MinSamples int
	// Tolerance is how far the window's p90 RTT may exceed the baseline
	// (the no-queue p90): above it the limit is cut, at or below it the
	// limit grows (if it was used). At steady state the backend sees about
	// Tolerance × its unloaded latency, at full throughput. Must be > 1.
	// Default 1.2.
	Tolerance float64
	// BackoffRatio multiplies the limit after a window with too many
	// OutcomeOverload releases. In (0, 1). Default 0.9.
	BackoffRatio float64
	// DropTolerance is the fraction of a window's completions that may be
	// OutcomeOverload before the limit backs off, so that a backend failing
	// a few requests for reasons of its own does not drag the limit to the
	// floor. In [0, 1); zero means the default 0.05 (to back off on any
	// overload, set a tiny positive value). Default 0.05.
	DropTolerance float64
	// BaselineWindow is how long a baseline (no-queue p90) or minimum RTT
	// measurement is remembered. Default 30s.
	BaselineWindow time.Duration
	// ProbeInterval is the mean time between probes that halve the limit
	// for one window to re-measure the baseline (jittered ±25%); skipped
	// while load is light. Default 10s.
	ProbeInterval time.Duration
	// LIFOAfter: a class queue that has not emptied for this long (or for
	// half the class's MaxWait, if shorter) is a standing queue: it is
	// served newest first and its new waiters wait at most OverloadWait
	// (except in the highest class).
	// Default 100ms.
	LIFOAfter time.Duration
	// OverloadWait bounds the wait of a request joining a standing queue, so
	// that in overload rejections come within milliseconds (CoDel's idea). It
	// applies only to the class the admission level cuts through: the classes
	// above it wait their full MaxWait, or they time out between the bursts
	// of a lockstep backend (TestPriorityLockstepSurge). Default 2ms.
	OverloadWait time.Duration
	// QueueDelayTarget is the mean queue wait of admitted requests above
	// which a level window counts as overloaded, and the admission level
	// sheds more. Default: the minimum RTT, at least 1ms: a queue about one
	// service time deep keeps the backend busy between bursts of
	// completions without keeping requests long.
	QueueDelayTarget time.Duration
}

// Limiter admits requests to a backend under an adaptive concurrency limit,
// by priority class. All methods are safe for concurrent use.
type Limiter struct {
	now       func() time.Time
	afterFunc func(time.Duration, func()) Timer
	onLoss    func(class int) // nil: none
	// fleetCap caps the level until fleetCapUntil (Unix nanoseconds):
	// another gateway's ShedBelow.
	fleetCap, fleetCapUntil atomic.Int64
	// idleSince is when in-flight last fell to zero (Unix nanoseconds).
	idleSince atomic.Int64
	// limitHit: an Acquire found every slot taken since the last
	// release (controller.used).
	limitHit atomic.Bool
	// freeAt is when a slot last came back that nobody took (Unix
	// nanoseconds; 0 while in-flight is at the limit): see leftFree.
	freeAt atomic.Int64
	// passed counts the arrivals leftFree turned away since freeAt was
	// set.
	passed atomic.Int64
	// levelFloor is the lowest level a window may set (HoldAbove); -1:
	// none.
	levelFloor atomic.Int64

	inflight atomic.Int64
	limit    atomic.Int64 // the effective limit (a probe's cap while probing)
	// busySince is when in-flight last rose from zero (Unix ns): see
	// controller.silence.
	busySince atomic.Int64
	// own is the limit this limiter's controller set, before floor;
	// floor is SetFloor's (0: none).
	own, floor atomic.Int64
	level      atomic.Int64 // the admission level: the highest level admitted
	waiting    atomic.Int64 // queued waiters, all classes
	epoch      atomic.Uint64
	minRTT     atomic.Int64  // ns: deadline checks
	drain      atomic.Uint64 // float64 bits: releases per second
	closed     atomic.Bool
	classes    atomic.Pointer[classSet]

	mu           sync.Mutex // guards class queues, waiter states, overloadWait
	overloadWait time.Duration
	pool         sync.Pool // *waiter

	cmu sync.Mutex // guards ctl, lvl, the classes' window stats; after mu
	ctl controller
	lvl levelCtl

	levelWindow time.Duration // SampleWindow
	queueTarget time.Duration // Config.QueueDelayTarget; 0: from the minimum RTT
	levelCounts []float64     // updateLevel's scratch; guarded by cmu
}

// Token is an admission. Release it exactly once; the zero Token's Release
// does nothing.
type Token struct {
	l     *Limiter
	epoch uint64
}

// New returns a Limiter configured by cfg.
func New(cfg Config) (*Limiter, error) {
	c, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	l := &Limiter{now: c.Now, afterFunc: c.AfterFunc, onLoss: c.OnLoss,
		levelWindow: c.SampleWindow, queueTarget: c.QueueDelayTarget}
	l.overloadWait = c.OverloadWait
	l.levelFloor.Store(-1)
	l.lvl.lossTop.Store(noLoss)
	cs := newClassSet(len(c.Classes))
	for i, cc := range c.Classes {
		cs.list[i] = &class{name: cc.Name, index: i}
		cs.list[i].set(cc, c.LIFOAfter)
	}
	l.classes.Store(cs)
	l.level.Store(cs.maxLevel())
	l.lvl.start = l.now()
	l.pool.New = func() any { return &waiter{l: l, ch: make(chan Reason, 1)} }
	l.ctl.init(c.ctlConfig(), float64(c.InitialLimit), l.now())
	l.publish()
	return l, nil
}

// Acquire asks for a backend slot for a request of class c (an index into
// Config.Classes) from the user whose stable hash is user (DAGOR's user
// priority: under overload the admission level sheds part of a class by
// the top bits of this hash, the same users each time; pass a random value
// for requests with no user). A request below the admission level is
// rejected at once (ReasonShed), unless the backend is idle. Otherwise it
// returns at once when a slot is free and no class of higher or equal
// priority is waiting, else it waits in the class queue, up to the class's
// MaxWait and the request's deadline (zero: none), and returns ReasonNone
// with a Token when admitted, or the reason it gave up. Rejections decided
// at once allocate nothing.
func (l *Limiter) Acquire(c int, user uint64, deadline time.Time) (Token, Reason) {
	cs := l.classes.Load()
	if uint(c) >= uint(len(cs.list)) || l.closed.Load() {
		return Token{}, ReasonClosed
	}
	k := cs.list[c]
	lvl := levelOf(c, user)
	cs.arrivals[lvl].Add(1)
	if level := l.level.Load(); int64(lvl) > level && !l.idleReset(cs, lvl) {
		// Work-conserving: a user the level cuts off in the class it cuts
		// through may still take a free slot when nobody waits at all, so
		// that a level a step too low does not leave the backend idle:
		// within conserveSpan of the level (one demand rank) at once, so
		// that the slot goes to a miss the cache will reuse rather than
		// to any new code that happens to arrive first, and any user of
		// the class once the slot was left free a while (leftFree).
		// That is for bulk classes, which every gateway sheds in a
		// surge: a class that is not bulk and that the level cuts into
		// is losing requests that matter more than whose they are, and
		// any of its users takes a free slot at once. Classes wholly
		// below the level get nothing.
		far := int64(lvl) > level+conserveSpan
		if c > int(level>>subBits) || l.waiting.Load() != 0 ||
			far && k.bulk.Load() && !l.leftFree() || !l.tryInc() {
			if l.onLoss != nil && c == cs.marginalClass(level) {
				l.onLoss(c) // the highest class the level sheds: lower ones get nothing anywhere
			}
			return Token{}, k.reject(ReasonShed)
		}
		k.admitted.Add(1)
		if far {
			k.freeAny.Add(1)
		} else {
			k.freeNext.Add(1)
		}
		return Token{l: l, epoch: l.epoch.Load()}, ReasonNone
	}
	var now time.Time
	if !deadline.IsZero() {
		now = l.now()
		if deadline.Sub(now) < time.Duration(l.minRTT.Load()) {
			return Token{}, k.reject(ReasonDeadline)
		}
	}
	if !cs.waitingAtOrAbove(c) && l.tryInc() {
		k.admitted.Add(1)
		return Token{l: l, epoch: l.epoch.Load()}, ReasonNone
	}
	if k.depth.Load() >= k.maxQueue.Load() {
		l.loss(c)
		return Token{}, k.reject(ReasonQueueFull)
	}
	if cs.waitingAbove(c) {
		if now.IsZero() {
			now = l.now()
		}
		if cs.standingAbove(c, now.UnixNano()) {
			l.loss(c)
			return Token{}, k.reject(ReasonShed)
		}
	}
	return l.wait(c, deadline, now)
}

// idleReset reopens the level when nothing has been in flight or queued
// for a level window, so that a level learned in a surge does not shed
// the requests after it. Not at once (a lockstep backend hands every slot
// back in one burst: TestIdleResetWaitsAWindow), not above a fleet's cap
// (TestIdleResetKeepsTheFleetCap), and class by class as calm windows
// would (TestIdleResetKeepsTheClassHold). It reports whether the level
// now admits lvl.
func (l *Limiter) idleReset(cs *classSet, lvl int) bool {
	if l.inflight.Load() != 0 || l.waiting.Load() != 0 {
		return false
	}
	now := l.now()
	if now.UnixNano()-l.idleSince.Load() < int64(l.levelWindow) {
		return false // a burst of completions, not an idle backend
	}
	l.cmu.Lock()
	level := classTop(l.level.Load())
	for level < cs.maxLevel() && !l.lvl.cutRecently(int(level>>subBits), now) {
		level += subLevels // the next class, whole
	}
	l.cmu.Unlock()
	if l.capped(now) {
		// Idle here is not idle everywhere: another gateway in front of
		// the same backend is losing a class now (ShedBelow).
		level = min(level, l.fleetCap.Load())
	}
	l.level.Store(level)
	return int64(lvl) <= level
}

// tryInc takes a slot if in-flight is under the limit.
func (l *Limiter) tryInc() bool {
	for {
		n, limit := l.inflight.Load(), l.limit.Load()
		if n >= limit {
			if !l.limitHit.Load() {
				l.limitHit.Store(true) // a load first: the flag's line stays shared
			}
			return false
		}
		if l.inflight.CompareAndSwap(n, n+1) {
			if n == 0 {
				l.busySince.Store(l.now().UnixNano())
			}
			if n+1 >= limit {
				l.freeAt.Store(0)
			}
			return true
		}
	}
}

// leftFree reports whether a free slot has waited long enough for a user
// within a rank of the level: a quarter of the minimum RTT and
// freeSlotPasses arrivals turned away since it came back, or a whole
// minimum RTT (100 us at least). Each call counts one arrival turned
// away. Without the wait a level a step too tight idles the backend; the
// count keeps a gateway seeing a third of a fleet's arrivals as choosy as
// one seeing them all (TestAFreeSlotWaitsForEnoughArrivals).
func (l *Limiter) leftFree() bool {
	f := l.freeAt.Load()
	if f == 0 {
		return false
	}
	enough := l.passed.Add(1) > freeSlotPasses
	waited, m := l.now().UnixNano()-f, max(l.minRTT.Load(), int64(100*time.Microsecond))
	return enough && waited >= m/4 || waited >= m
}

// freeSlotPasses is how many arrivals of the class the level cuts through
// a free slot waits for before any of them may take it (leftFree): about
// what one gateway turns away in a quarter of the minimum RTT in the
// fleet benchmark's surge (TestAFreeSlotWaitsForEnoughArrivals).
const freeSlotPasses = 16

// Release returns the slot and feeds the controller: rtt is the backend's
// round trip, outcome classifies it (see Outcome). It is ReleaseTimed with
// no local delay.
func (t Token) Release(rtt time.Duration, outcome Outcome) { t.ReleaseTimed(rtt, 0, outcome) }

// ReleaseTimed returns the slot and feeds the controller: rtt is the
// backend's own round trip (the caller's kernel receive timestamps take
// out the time its answer waited to be read), local how much longer the
// caller held the slot (sending late, reading late). The limit adds the
// slots that local holds at the best recent delivery rate (Little's law),
// so that a gateway slow to read answers does not starve the backend
// (TestGatewayDelayIsNotBackendLatency).
func (t Token) ReleaseTimed(rtt, local time.Duration, outcome Outcome) {
	l := t.l
	if l == nil {
		return
	}
	n := l.putBack()
	l.cmu.Lock()
	now := l.now()
	cs := l.classes.Load()
	l.ctl.urgency = l.urgency(cs, now)
	l.ctl.addLocal(local)
	if l.limitHit.Load() && l.limitHit.Swap(false) || l.waiting.Load() > 0 {
		l.ctl.limited = true
	}
	l.ctl.levelOpen = l.level.Load() >= cs.maxLevel()
	stalled := l.ctl.silence(now, time.Unix(0, l.busySince.Load()), rtt, local, outcome, n+1)
	if stalled {
		l.reopenAfterSilence(cs, now)
	}
	if l.ctl.onRelease(now, t.epoch, rtt, outcome, n+1) || stalled {
		l.publish()
	}
	l.updateLevel(cs, now, l.queueDelayTarget(now))
	l.cmu.Unlock()
	if n < l.limit.Load() {
		// A waiter's tryInc clears freeAt when it takes the last slot.
		if l.freeAt.CompareAndSwap(0, now.UnixNano()) {
			l.passed.Store(0)
		}
	}
	if l.waiting.Load() > 0 {
		l.mu.Lock()
		l.dispatch(l.classes.Load(), now)
		l.mu.Unlock()
	}
}

// putBack returns a slot and reports how many stay in flight. The last
// slot's return first records when nothing was left in flight: stored
// after the count fell to zero, an Acquire in between paired the zero
// with the idle time of an earlier lull and reset the level (idleReset):
// every class was admitted until the next level window, in the middle of
// a surge whose lockstep backend hands all slots back at once.
func (l *Limiter) putBack() int64 {
	for {
		n := l.inflight.Load()
		if n == 1 {
			l.idleSince.Store(l.now().UnixNano())
		}
		if l.inflight.CompareAndSwap(n, n-1) {
			return n - 1
		}
	}
}

// publish copies the controller's state that the lock-free paths read.
// Called with cmu held.
func (l *Limiter) publish() {
	c := &l.ctl
	now := l.now()
	lim := c.effective(now)
	l.own.Store(lim)
	l.limit.Store(max(lim, min(l.floor.Load(), int64(c.cfg.maxLimit)))) // MaxLimit caps a floor too
	l.epoch.Store(c.epoch)
	l.minRTT.Store(int64(c.minRTT.min(now)))
	l.drain.Store(math.Float64bits(c.drainRate))
	if c.lastDur > 0 {
		l.classes.Load().updateWindow(c.lastDur)
		c.lastDur = 0
	}
}

// SetFloor makes the limit in force at least n (0: no floor; never above
// MaxLimit, the operator's ceiling) while the
// controller goes on measuring and setting its own (OwnLimit). A fleet of
// gateways in front of one backend uses it to keep each one's share near
// the others': limits found independently can drift apart, and a gateway
// whose limit sank then loses its third of the top classes while the
// others have slots to spare.
func (l *Limiter) SetFloor(n int) {
	l.floor.Store(int64(max(n, 0)))
	l.cmu.Lock()
	l.publish()
	l.cmu.Unlock()
}

// OwnLimit is the limit this limiter's controller set, before any floor.
func (l *Limiter) OwnLimit() int { return int(l.own.Load()) }

// Reconfigure applies cfg to a running Limiter: bounds and tuning take
// effect at once, the current limit is kept (clamped to the new bounds), as
// are the RTT estimates, in-flight tokens and queued waiters. Classes are
// matched by name; waiters of a removed class get ReasonClosed. A queue
// whose MaxQueue shrank keeps its waiters; the admission level starts
// over, admitting every class. Now and AfterFunc are ignored:
// they are fixed at New.
func (l *Limiter) Reconfigure(cfg Config) error {
	c, err := cfg.normalize()
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	now := l.now()
	old := l.classes.Load()
	cs := newClassSet(len(c.Classes))
	for i, cc := range c.Classes {
		k := old.byName(cc.Name)
		if k == nil {
			k = &class{name: cc.Name}
		}
		k.set(cc, c.LIFOAfter)
		k.index = i
		cs.list[i] = k
	}
	for _, k := range old.list {
		if cs.byName(k.name) == nil {
			l.drainClass(k, ReasonClosed, now)
		}
	}
	l.overloadWait = c.OverloadWait
	l.classes.Store(cs)
	l.level.Store(cs.maxLevel())
	l.cmu.Lock()
	l.queueTarget = c.QueueDelayTarget
	l.ctl.reconfigure(c.ctlConfig(), now)
	l.publish()
	l.cmu.Unlock()
	l.dispatch(cs, now)
	return nil
}

// Close rejects all waiters and all later Acquire calls with ReasonClosed.
// Tokens already given out may still be released.
func (l *Limiter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed.Store(true)
	now := l.now()
	for _, k := range l.classes.Load().list {
		l.drainClass(k, ReasonClosed, now)
	}
}

// normalize returns cfg with defaults applied, or an error naming the bad
// field.
func (cfg Config) normalize() (Config, error) {
	c := cfg
	c.InitialLimit = orInt(c.InitialLimit, DefaultInitialLimit)
	c.MinLimit = orInt(c.MinLimit, DefaultMinLimit)
	c.MaxLimit = orInt(c.MaxLimit, DefaultMaxLimit)
	c.SampleWindow = orDur(c.SampleWindow, 100*time.Millisecond)
	c.MinSamples = orInt(c.MinSamples, 10)
	c.BaselineWindow = orDur(c.BaselineWindow, 30*time.Second)
	c.ProbeInterval = orDur(c.ProbeInterval, 10*time.Second)
	c.LIFOAfter = orDur(c.LIFOAfter, 100*time.Millisecond)
	c.OverloadWait = orDur(c.OverloadWait, 2*time.Millisecond)
	c.Tolerance = orFloat(c.Tolerance, 1.2)
	c.BackoffRatio = orFloat(c.BackoffRatio, 0.9)
	c.DropTolerance = orFloat(c.DropTolerance, 0.05)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AfterFunc == nil {
		c.AfterFunc = realAfterFunc
	}
	switch {
	case c.MinLimit < 1 || c.MaxLimit < c.MinLimit:
		return c, fmt.Errorf("%w: limits min %d, max %d: want 1 <= min <= max", ErrConfig, c.MinLimit, c.MaxLimit)
	case c.InitialLimit < 0:
		return c, fmt.Errorf("%w: initial limit %d < 0", ErrConfig, c.InitialLimit)
	case c.SampleWindow < 0 || c.BaselineWindow < 0 || c.ProbeInterval < 0 || c.LIFOAfter < 0 || c.OverloadWait < 0 || c.QueueDelayTarget < 0 || c.MinSamples < 0:
		return c, fmt.Errorf("%w: negative window, interval, wait or sample count", ErrConfig)
	case !(c.Tolerance > 1) || math.IsInf(c.Tolerance, 0):
		return c, fmt.Errorf("%w: tolerance %v: want > 1", ErrConfig, c.Tolerance)
	case !(c.BackoffRatio > 0 && c.BackoffRatio < 1):
		return c, fmt.Errorf("%w: backoff ratio %v: want in (0, 1)", ErrConfig, c.BackoffRatio)
	case !(c.DropTolerance >= 0 && c.DropTolerance < 1):
		return c, fmt.Errorf("%w: drop tolerance %v: want in [0, 1)", ErrConfig, c.DropTolerance)
	case len(c.Classes) == 0:
		return c, fmt.Errorf("%w: no classes", ErrConfig)
	}
	c.InitialLimit = min(max(c.InitialLimit, c.MinLimit), c.MaxLimit)
	c.Classes = make([]ClassConfig, len(cfg.Classes))
	for i, cc := range cfg.Classes {
		if err := checkClass(cc, cfg.Classes[:i]); err != nil {
			return c, err
		}
		cc.MaxWait = orDur(cc.MaxWait, DefaultMaxWait)
		c.Classes[i] = cc
	}
	return c, nil
}

func checkClass(cc ClassConfig, before []ClassConfig) error {
	switch {
	case cc.Name == "":
		return fmt.Errorf("%w: class %d has no name", ErrConfig, len(before))
	case cc.MaxQueue < 0:
		return fmt.Errorf("%w: class %q: max queue %d < 0", ErrConfig, cc.Name, cc.MaxQueue)
	case cc.MaxWait < 0:
		return fmt.Errorf("%w: class %q: max wait %v < 0", ErrConfig, cc.Name, cc.MaxWait)
	}
	for _, b := range before {
		if b.Name == cc.Name {
			return fmt.Errorf("%w: duplicate class %q", ErrConfig, cc.Name)
		}
	}
	return nil
}

func (cfg Config) ctlConfig() ctlConfig {
	return ctlConfig{
		minLimit:       float64(cfg.MinLimit),
		maxLimit:       float64(cfg.MaxLimit),
		window:         cfg.SampleWindow,
		minSamples:     cfg.MinSamples,
		tolerance:      cfg.Tolerance,
		backoff:        cfg.BackoffRatio,
		dropTolerance:  cfg.DropTolerance,
		baselineWindow: cfg.BaselineWindow,
		probeInterval:  cfg.ProbeInterval,
	}
}

// queueDelayTarget is Config.QueueDelayTarget or its default. Called with
// cmu held.
func (l *Limiter) queueDelayTarget(now time.Time) time.Duration {
	if l.queueTarget > 0 {
		return l.queueTarget
	}
	return max(l.ctl.minRTT.min(now), time.Millisecond)
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
