package limiter

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shedgate/internal/wait"
)

// qh is a harness for queue tests: a Limiter on a fake clock with a fixed
// limit (MinLimit = MaxLimit) and waiters in goroutines.
type qh struct {
	t   *testing.T
	clk *fakeClock
	l   *Limiter
	res chan result
}

type result struct {
	name string
	tok  Token
	r    Reason
}

func newQH(t *testing.T, limit int, classes ...ClassConfig) *qh {
	t.Helper()
	clk := newFakeClock()
	l, err := New(Config{MinLimit: limit, MaxLimit: limit, Classes: classes, Now: clk.Now, AfterFunc: clk.AfterFunc})
	if err != nil {
		t.Fatal(err)
	}
	return &qh{t: t, clk: clk, l: l, res: make(chan result, 100)}
}

// hold takes a slot at once.
func (h *qh) hold(class int) Token {
	h.t.Helper()
	tok, r := h.l.Acquire(class, 0, time.Time{})
	if r != ReasonNone {
		h.t.Fatalf("Acquire(%d): got %v; want none", class, r)
	}
	return tok
}

// start queues a waiter named name and returns once it is queued.
func (h *qh) start(name string, class int, deadline time.Time) {
	h.t.Helper()
	before := h.l.waiting.Load()
	go func() {
		tok, r := h.l.Acquire(class, 0, deadline)
		h.res <- result{name, tok, r}
	}()
	wait.For(h.t, 5*time.Second, name+" queued", func() bool { return h.l.waiting.Load() == before+1 })
}

// expect receives the next result and checks it.
func (h *qh) expect(name string, r Reason) Token {
	h.t.Helper()
	select {
	case got := <-h.res:
		if got.name != name || got.r != r {
			h.t.Fatalf("got %s %v; want %s %v", got.name, got.r, name, r)
		}
		return got.tok
	case <-time.After(5 * time.Second):
		h.t.Fatalf("timed out waiting for %s %v", name, r)
	}
	return Token{}
}

// expectAll receives len(want) results in any order and checks them; it
// returns the tokens by name.
func (h *qh) expectAll(want map[string]Reason) map[string]Token {
	h.t.Helper()
	toks := map[string]Token{}
	for range want {
		select {
		case got := <-h.res:
			if r, ok := want[got.name]; !ok || r != got.r {
				h.t.Fatalf("got %s %v; want one of %v", got.name, got.r, want)
			}
			toks[got.name] = got.tok
		case <-time.After(5 * time.Second):
			h.t.Fatalf("timed out waiting for %v", want)
		}
	}
	return toks
}

// none checks that no waiter has finished.
func (h *qh) none() {
	h.t.Helper()
	time.Sleep(2 * time.Millisecond)
	select {
	case got := <-h.res:
		h.t.Fatalf("got %s %v; want nobody to finish yet", got.name, got.r)
	default:
	}
}

var (
	critical = ClassConfig{Name: "critical", MaxQueue: 10, MaxWait: time.Second}
	normal   = ClassConfig{Name: "normal", MaxQueue: 10, MaxWait: time.Second}
	low      = ClassConfig{Name: "low", MaxQueue: 10, MaxWait: time.Second}
)

func TestQueuePriority(t *testing.T) {
	h := newQH(t, 1, critical, normal, low)
	tok := h.hold(1)
	h.start("low", 2, time.Time{})
	h.start("normal1", 1, time.Time{})
	h.start("critical", 0, time.Time{})
	h.start("normal2", 1, time.Time{})
	for _, name := range []string{"critical", "normal1", "normal2", "low"} {
		tok.Release(time.Millisecond, OutcomeIgnore)
		tok = h.expect(name, ReasonNone)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)
	var s Stats
	h.l.Stats(&s)
	if s.InFlight != 0 || s.Classes[1].Admitted != 3 || s.Classes[0].Admitted != 1 {
		t.Errorf("stats: in-flight %d, admitted critical %d normal %d; want 0, 1, 3", s.InFlight, s.Classes[0].Admitted, s.Classes[1].Admitted)
	}
}

func TestQueueFIFOThenLIFO(t *testing.T) {
	h := newQH(t, 1, normal) // LIFO after min(100ms, MaxWait/2)
	tok := h.hold(0)
	h.start("a", 0, time.Time{})
	h.start("b", 0, time.Time{})
	h.start("c", 0, time.Time{})
	tok.Release(0, OutcomeIgnore)
	tok = h.expect("a", ReasonNone) // the queue is young: FIFO
	h.clk.Advance(150 * time.Millisecond)
	tok.Release(0, OutcomeIgnore)
	tok = h.expect("c", ReasonNone) // not emptied for 150ms: LIFO
	tok.Release(0, OutcomeIgnore)
	h.expect("b", ReasonNone).Release(0, OutcomeIgnore)
}

func TestQueueTimeout(t *testing.T) {
	h := newQH(t, 1, ClassConfig{Name: "c", MaxQueue: 10, MaxWait: 50 * time.Millisecond})
	tok := h.hold(0)
	h.start("a", 0, time.Time{})
	h.clk.Advance(49 * time.Millisecond)
	h.none()
	h.clk.Advance(time.Millisecond)
	h.expect("a", ReasonTimeout)
	var s Stats
	h.l.Stats(&s)
	if got := s.Classes[0]; got.Rejected[ReasonTimeout] != 1 || got.QueueDepth != 0 {
		t.Errorf("stats: timeouts %d, depth %d; want 1, 0", got.Rejected[ReasonTimeout], got.QueueDepth)
	}
	tok.Release(0, OutcomeIgnore)
	if n := h.clk.Pending(); n != 0 {
		t.Errorf("pending timers: got %d; want 0", n)
	}
}

func TestQueueStandingWaitsOverloadWait(t *testing.T) {
	h := newQH(t, 1, critical, normal)
	tok := h.hold(0)
	h.start("old", 1, time.Time{})
	h.clk.Advance(150 * time.Millisecond)
	h.start("new", 1, time.Time{}) // joins a standing queue: waits 2ms at most
	h.clk.Advance(2 * time.Millisecond)
	h.expect("new", ReasonTimeout)
	tok.Release(0, OutcomeIgnore)
	h.expect("old", ReasonNone).Release(0, OutcomeIgnore)
}

// A burst of the highest class makes its queue stand for a moment; its
// requests still wait their full MaxWait instead of OverloadWait.
func TestTopClassKeepsFullWaitInStandingQueue(t *testing.T) {
	h := newQH(t, 1, critical, low)
	tok := h.hold(0)
	h.start("old", 0, time.Time{})
	h.clk.Advance(150 * time.Millisecond) // the critical queue is standing
	h.start("new", 0, time.Time{})
	wait.For(t, 5*time.Second, "new queued", func() bool { return h.l.waiting.Load() == 2 })
	h.clk.Advance(10 * time.Millisecond) // far past OverloadWait, within MaxWait
	tok.Release(0, OutcomeIgnore)
	h.expect("new", ReasonNone).Release(0, OutcomeIgnore)
	h.expect("old", ReasonNone).Release(0, OutcomeIgnore)
}

func TestQueueShed(t *testing.T) {
	h := newQH(t, 1, critical, low)
	tok := h.hold(0)
	h.start("low", 1, time.Time{})
	h.start("critical1", 0, time.Time{})
	h.clk.Advance(150 * time.Millisecond) // the critical queue is standing
	if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonShed {
		t.Errorf("low class under a standing critical queue: got %v; want shed", r)
	}
	go func() { // joining the standing queue evicts the low waiter
		tok, r := h.l.Acquire(0, 0, time.Time{})
		h.res <- result{"critical2", tok, r}
	}()
	h.expect("low", ReasonShed) // it could not be served before the critical queue empties
	wait.For(t, 5*time.Second, "critical2 queued", func() bool { return h.l.waiting.Load() == 2 })
	tok.Release(0, OutcomeIgnore)
	h.expect("critical2", ReasonNone).Release(0, OutcomeIgnore) // LIFO
	h.expect("critical1", ReasonNone).Release(0, OutcomeIgnore)
	// The low requests shed were losses of class low (see
	// TestStandingShedIsALoss): the level reopens low once nothing has
	// been in flight for a level window.
	h.clk.Advance(100 * time.Millisecond)
	if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonNone {
		t.Errorf("low class once the queues have been empty for a window: got %v; want none", r)
	}
}

// TestStandingShedIsALoss: a request shed because a higher class has a
// standing queue lost, as one that timed out or found its queue full: no
// lower class may take a slot after it. Measured with three gateways on a
// lockstep backend, each with 3-5 slots: one gateway shed show-code misses
// (normal) this way while its level still admitted every class, and
// served re-issues (low) whenever its critical queue emptied: 1-8 seconds
// with a lower class served while a higher one lost, in 16 of 19 runs.
func TestStandingShedIsALoss(t *testing.T) {
	h := newQH(t, 1, critical, normal, low)
	tok := h.hold(0)
	h.start("critical", 0, time.Time{})
	h.clk.Advance(150 * time.Millisecond) // the critical queue is standing
	if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("normal under a standing critical queue: got %v; want shed", r)
	}
	tok.Release(0, OutcomeIgnore)
	h.expect("critical", ReasonNone).Release(0, OutcomeIgnore)
	// Nothing waits now and the slot is free.
	if tok, r := h.l.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Errorf("low after normal lost: got %v; want shed", r)
		tok.Release(0, OutcomeIgnore)
	}
	// Not for ever: idle for a level window, a classHold after the window
	// that cut into normal, every class is admitted again.
	h.clk.Advance(classHold + 100*time.Millisecond)
	tok, r := h.l.Acquire(2, 0, time.Time{})
	if r != ReasonNone {
		t.Fatalf("low after a classHold with nothing in flight: got %v; want none", r)
	}
	tok.Release(0, OutcomeIgnore)
}

func TestQueueFull(t *testing.T) {
	h := newQH(t, 1, ClassConfig{Name: "q2", MaxQueue: 2}, ClassConfig{Name: "q0"})
	tok := h.hold(0)
	h.start("a", 0, time.Time{})
	h.start("b", 0, time.Time{})
	if _, r := h.l.Acquire(0, 0, time.Time{}); r != ReasonQueueFull {
		t.Errorf("third waiter of MaxQueue 2: got %v; want queue_full", r)
	}
	if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonShed {
		t.Errorf("lower class after a higher one found its queue full: got %v; want shed", r)
	}
	tok.Release(0, OutcomeIgnore)
	h.expect("a", ReasonNone).Release(0, OutcomeIgnore)
	h.expect("b", ReasonNone).Release(0, OutcomeIgnore)
}

// prime feeds 20 samples of rtt so that the minimum RTT is rtt.
func (h *qh) prime(rtt time.Duration) {
	h.t.Helper()
	for range 20 {
		tok := h.hold(0)
		h.clk.Advance(5 * time.Millisecond)
		tok.Release(rtt, OutcomeOK)
	}
	var s Stats
	if h.l.Stats(&s); s.MinRTT != rtt {
		h.t.Fatalf("primed min RTT: got %v; want %v", s.MinRTT, rtt)
	}
}

func TestQueueDeadline(t *testing.T) {
	h := newQH(t, 1, normal, low)
	h.prime(20 * time.Millisecond)
	now := h.clk.Now()
	if _, r := h.l.Acquire(0, 0, now.Add(10*time.Millisecond)); r != ReasonDeadline {
		t.Errorf("deadline closer than the min RTT, slot free: got %v; want deadline", r)
	}
	if _, r := h.l.Acquire(0, 0, now.Add(-time.Millisecond)); r != ReasonDeadline {
		t.Errorf("deadline passed: got %v; want deadline", r)
	}
	tok := h.hold(0)
	h.start("a", 0, now.Add(100*time.Millisecond)) // may wait 100ms - 20ms
	h.clk.Advance(79 * time.Millisecond)
	h.none()
	h.clk.Advance(time.Millisecond)
	h.expect("a", ReasonDeadline)
	tok.Release(0, OutcomeIgnore)

	// Dropped when it would be admitted: the min RTT rose meanwhile. (A
	// new limiter: a's loss has shed the lower class for this window.)
	h = newQH(t, 1, normal, low)
	h.prime(20 * time.Millisecond)
	tok = h.hold(0)
	now = h.clk.Now()
	h.start("b", 0, now.Add(100*time.Millisecond))
	h.start("c", 1, time.Time{})
	h.l.minRTT.Store(int64(95 * time.Millisecond))
	h.clk.Advance(10 * time.Millisecond)
	tok.Release(0, OutcomeIgnore)
	// b's loss sheds the lower class's waiter too: strict priority gives
	// c no slot in the moment a higher class lost one.
	h.expectAll(map[string]Reason{"b": ReasonDeadline, "c": ReasonShed})
}

func TestClose(t *testing.T) {
	h := newQH(t, 1, normal)
	tok := h.hold(0)
	h.start("a", 0, time.Time{})
	h.l.Close()
	h.expect("a", ReasonClosed)
	if _, r := h.l.Acquire(0, 0, time.Time{}); r != ReasonClosed {
		t.Errorf("Acquire after Close: got %v; want closed", r)
	}
	if err := h.l.Reconfigure(Config{Classes: []ClassConfig{normal}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Reconfigure after Close: got %v; want ErrClosed", err)
	}
	tok.Release(0, OutcomeOK)
	if n := h.l.inflight.Load(); n != 0 {
		t.Errorf("in-flight after release: got %d; want 0", n)
	}
}

func TestReconfigure(t *testing.T) {
	h := newQH(t, 1, critical, normal, low)
	tok := h.hold(1)
	h.start("normal", 1, time.Time{})
	h.start("low", 2, time.Time{})
	cfg := Config{MinLimit: 1, MaxLimit: 1, Classes: []ClassConfig{low, normal}, Now: h.clk.Now}
	if err := h.l.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	h.none()
	cfg.Classes = []ClassConfig{normal}
	if err := h.l.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	h.expect("low", ReasonClosed) // its class was removed
	var s Stats
	h.l.Stats(&s)
	if len(s.Classes) != 1 || s.Classes[0].Name != "normal" || s.Classes[0].Admitted != 1 || s.Classes[0].QueueDepth != 1 {
		t.Fatalf("classes after reconfigure: got %+v; want normal with 1 admitted, 1 queued", s.Classes)
	}
	cfg.MinLimit, cfg.MaxLimit = 2, 5 // the limit 1 is clamped up to 2: a slot frees
	if err := h.l.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	h.expect("normal", ReasonNone).Release(0, OutcomeIgnore)
	if h.l.Stats(&s); s.Limit != 2 {
		t.Errorf("limit after MinLimit 2: got %d; want 2", s.Limit)
	}
	tok.Release(0, OutcomeIgnore)
	if err := h.l.Reconfigure(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Reconfigure with no classes: got %v; want ErrConfig", err)
	}
}

func TestConfigErrors(t *testing.T) {
	c := []ClassConfig{normal}
	f := func(cfg Config, want string) {
		t.Helper()
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%+v): got %v; want ErrConfig containing %q", cfg, err, want)
		}
	}
	f(Config{}, "no classes")
	f(Config{MinLimit: 5, MaxLimit: 4, Classes: c}, "limits min 5, max 4")
	f(Config{MinLimit: -1, Classes: c}, "limits min -1")
	f(Config{InitialLimit: -1, Classes: c}, "initial limit -1")
	f(Config{Tolerance: 0.9, Classes: c}, "tolerance 0.9")
	f(Config{BackoffRatio: 1.5, Classes: c}, "backoff ratio 1.5")
	f(Config{DropTolerance: 1, Classes: c}, "drop tolerance 1")
	f(Config{SampleWindow: -1, Classes: c}, "negative")
	f(Config{Classes: []ClassConfig{{MaxQueue: 1}}}, "class 0 has no name")
	f(Config{Classes: []ClassConfig{{Name: "a", MaxQueue: -1}}}, `class "a": max queue -1`)
	f(Config{Classes: []ClassConfig{{Name: "a", MaxWait: -1}}}, `class "a": max wait -1ns`)
	f(Config{Classes: []ClassConfig{{Name: "a"}, {Name: "a"}}}, `duplicate class "a"`)

	l, err := New(Config{InitialLimit: 5000, Classes: c})
	if err != nil {
		t.Fatal(err)
	}
	if l.ctl.ssthresh != 1000 { // slow start's ceiling
		t.Errorf("initial limit 5000: got %v; want clamped to 1000", l.ctl.ssthresh)
	}
	if _, r := l.Acquire(1, 0, time.Time{}); r != ReasonClosed {
		t.Errorf("Acquire of class 1 of 1: got %v; want closed", r)
	}
}

func TestReasonAndOutcomeStrings(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q; want %q", got, want)
		}
	}
	f(ReasonNone.String(), "none")
	f(ReasonQueueFull.String(), "queue_full")
	f(ReasonTimeout.String(), "timeout")
	f(ReasonDeadline.String(), "deadline")
	f(ReasonShed.String(), "shed")
	f(ReasonClosed.String(), "closed")
	f(Reason(99).String(), "unknown")
	f(OutcomeOK.String(), "ok")
	f(OutcomeOverload.String(), "overload")
	f(OutcomeIgnore.String(), "ignore")
	f(Outcome(9).String(), "unknown")
}

// TestConcurrent hammers one Limiter from many goroutines on the real clock
// (run it with -race): in-flight never exceeds the limit, every admission
// is counted once, and nothing is left queued or in flight.
func TestConcurrent(t *testing.T) {
	const limit, workers, rounds = 4, 32, 200
	classes := []ClassConfig{
		{Name: "a", MaxQueue: 8, MaxWait: 20 * time.Millisecond},
		{Name: "b", MaxQueue: 8, MaxWait: 5 * time.Millisecond},
		{Name: "c"},
	}
	l, err := New(Config{MinLimit: limit, MaxLimit: limit, Classes: classes})
	if err != nil {
		t.Fatal(err)
	}
	var inflight, admitted, over atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // stats and reloads meanwhile
		var s Stats
		for {
			select {
			case <-stop:
				return
			default:
			}
			l.Stats(&s)
			_ = l.RetryAfter(2)
			_ = l.Reconfigure(Config{MinLimit: limit, MaxLimit: limit, Classes: classes})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var deadline time.Time
				if i%7 == 0 {
					deadline = time.Now().Add(time.Duration(w%5) * time.Millisecond)
				}
				tok, r := l.Acquire(rand.IntN(3), rand.Uint64(), deadline)
				if r != ReasonNone {
					continue
				}
				admitted.Add(1)
				if inflight.Add(1) > limit {
					over.Add(1)
				}
				time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				inflight.Add(-1)
				tok.Release(time.Millisecond, Outcome(i%3))
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := over.Load(); n != 0 {
		t.Errorf("in-flight exceeded the limit %d times", n)
	}
	var s Stats
	l.Stats(&s)
	var sum uint64
	for _, c := range s.Classes {
		sum += c.Admitted
		if c.QueueDepth != 0 {
			t.Errorf("class %s: depth %d; want 0", c.Name, c.QueueDepth)
		}
	}
	if s.InFlight != 0 || l.waiting.Load() != 0 || sum != uint64(admitted.Load()) {
		t.Errorf("after: in-flight %d, waiting %d, admitted %d (counted %d); want 0, 0, equal", s.InFlight, l.waiting.Load(), sum, admitted.Load())
	}
	t.Logf("%d of %d admitted; rejected per class: %v %v %v", admitted.Load(), workers*rounds, s.Classes[0].Rejected, s.Classes[1].Rejected, s.Classes[2].Rejected)
}

// A request that would wait longer than its class's MaxWait behind the
// queue at the current drain rate is rejected at once, not after MaxWait.
func TestQueueRejectsWhatWouldOutwait(t *testing.T) {
	h := newQH(t, 1, critical, ClassConfig{Name: "normal", MaxQueue: 100, MaxWait: 100 * time.Millisecond})
	h.l.drain.Store(math.Float64bits(40)) // 40 completions/s: 100ms drains 4 waiters
	tok := h.hold(0)
	h.start("critical", 0, time.Time{})
	for i := range 3 {
		h.start(fmt.Sprint("normal", i), 1, time.Time{})
	}
	wait.For(t, 5*time.Second, "4 queued", func() bool { return h.l.waiting.Load() == 4 })
	// 1 critical + 3 normal ahead: a fifth would be served after 100ms.
	if _, r := h.l.Acquire(1, 0, time.Time{}); r != ReasonQueueFull {
		t.Fatalf("joining a queue that cannot drain within MaxWait: %v; want queue_full at once", r)
	}
	// The critical class, with nothing above it, still queues (1s budget).
	h.start("critical2", 0, time.Time{})
	wait.For(t, 5*time.Second, "critical2 queued", func() bool { return h.l.waiting.Load() == 5 })
	tok.Release(0, OutcomeIgnore)
	for _, name := range []string{"critical", "critical2", "normal0", "normal1", "normal2"} {
		h.expect(name, ReasonNone).Release(0, OutcomeIgnore)
	}
}

// A standing queue that empties stays standing for LIFOAfter: a request
// arriving just after still waits only OverloadWait.
func TestStandingOutlastsAnEmptyMoment(t *testing.T) {
	h := newQH(t, 1, critical, normal)
	tok := h.hold(0)
	h.start("old", 1, time.Time{})
	h.clk.Advance(150 * time.Millisecond) // standing
	tok.Release(0, OutcomeIgnore)
	tok = h.expect("old", ReasonNone) // the queue is empty again
	h.clk.Advance(50 * time.Millisecond)
	h.start("new", 1, time.Time{})
	wait.For(t, 5*time.Second, "new queued", func() bool { return h.l.waiting.Load() == 1 })
	h.clk.Advance(2 * time.Millisecond)
	h.expect("new", ReasonTimeout)
	h.clk.Advance(200 * time.Millisecond) // long after: FIFO and full waits again
	h.start("later", 1, time.Time{})
	wait.For(t, 5*time.Second, "later queued", func() bool { return h.l.waiting.Load() == 1 })
	h.clk.Advance(50 * time.Millisecond)
	tok.Release(0, OutcomeIgnore)
	h.expect("later", ReasonNone).Release(0, OutcomeIgnore)
}

// The class a level cuts through is the class of the first user level it
// excludes: the top sub-level of a class admits all of it. A level that
// excludes nobody makes the lowest class the marginal one.
func TestMarginalClass(t *testing.T) {
	cs := &classSet{list: make([]*class, 4)}
	top := int64(subLevels - 1) // all of class 0
	for _, tc := range []struct {
		level int64
		want  int
	}{
		{0, 0}, {top - 1, 0}, {top, 1}, {top + 1, 1}, {2*subLevels - 2, 1}, {2*subLevels - 1, 2}, {2 * subLevels, 2},
		{4*subLevels - 2, 3}, {4*subLevels - 1, 3},
	} {
		if got := cs.marginalClass(tc.level); got != tc.want {
			t.Errorf("marginalClass(%d) = %d; want %d", tc.level, got, tc.want)
		}
	}
}

// A loss of class c, here or at another gateway (ShedBelow), sheds the
// waiters of every lower class at once: queued before it, they would
// otherwise take the next slots while c loses.
func TestLossShedsLowerWaiters(t *testing.T) {
	high := ClassConfig{Name: "high", MaxQueue: 10, MaxWait: 50 * time.Millisecond}
	h := newQH(t, 1, high, normal, low)
	tok := h.hold(0)
	h.start("h", 0, time.Time{})
	h.start("n", 1, time.Time{})
	h.start("l", 2, time.Time{})
	h.clk.Advance(50 * time.Millisecond) // h times out: a loss of high
	h.expectAll(map[string]Reason{"h": ReasonTimeout, "n": ReasonShed, "l": ReasonShed})
	tok.Release(0, OutcomeIgnore)

	h = newQH(t, 1, high, normal, low)
	tok = h.hold(0)
	h.start("n", 1, time.Time{})
	h.start("l", 2, time.Time{})
	h.l.ShedBelow(1) // another gateway lost a normal request
	h.expect("l", ReasonShed)
	tok.Release(0, OutcomeIgnore)
	h.expect("n", ReasonNone).Release(0, OutcomeIgnore)
}
