package limiter

import (
	"runtime"
	"testing"
	"time"
)

// TestShedBelowAndOnLoss: a loss of a class is told to OnLoss, and
// ShedBelow (another gateway's loss) sheds the lower classes at arrival
// while the class itself and those above are still admitted.
func TestShedBelowAndOnLoss(t *testing.T) {
	var lost []int
	l, err := New(Config{InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
		Classes: []ClassConfig{{Name: "critical", MaxQueue: 10, MaxWait: time.Second},
			{Name: "high", MaxQueue: 0}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}},
		OnLoss: func(c int) { lost = append(lost, c) }})
	if err != nil {
		t.Fatal(err)
	}
	tok, r := l.Acquire(0, 0, time.Time{}) // the only slot: the backend is busy
	if r != ReasonNone {
		t.Fatalf("first Acquire: %v", r)
	}
	if _, r := l.Acquire(1, 0, time.Time{}); r != ReasonQueueFull {
		t.Fatalf("high with no queue and no slot: %v; want queue full", r)
	}
	if len(lost) != 1 || lost[0] != 1 {
		t.Fatalf("OnLoss got %v; want [1] (the high request lost)", lost)
	}
	tok.Release(time.Millisecond, OutcomeOK)

	l2, err := New(Config{InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
		Classes: []ClassConfig{{Name: "critical", MaxQueue: 10, MaxWait: time.Second},
			{Name: "high", MaxQueue: 10, MaxWait: time.Second}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	busy, _ := l2.Acquire(0, 0, time.Time{})
	l2.ShedBelow(1) // another gateway lost a high request
	if _, r := l2.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low after ShedBelow(high): %v; want shed at arrival", r)
	}
	busy.Release(time.Millisecond, OutcomeOK)
	if _, r := l2.Acquire(1, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("high after ShedBelow(high): %v; want admitted", r)
	}
	l2.ShedBelow(7) // no such class: ignored
	l2.ShedBelow(-1)
}

// TestSetFloor: a floor raises the limit in force, not the controller's
// own, and a floor of 0 takes it back.
func TestSetFloor(t *testing.T) {
	l, err := New(Config{InitialLimit: 2, MinLimit: 1, MaxLimit: 100, Classes: []ClassConfig{{Name: "all"}}})
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	l.SetFloor(5)
	if l.Stats(&s); s.Limit != 5 || l.OwnLimit() != 2 {
		t.Fatalf("with floor 5: limit %d, own %d; want 5 and 2", s.Limit, l.OwnLimit())
	}
	for range 5 {
		if _, r := l.Acquire(0, 0, time.Time{}); r != ReasonNone {
			t.Fatalf("acquire under the floor's limit: %v", r)
		}
	}
	l.SetFloor(0)
	if l.Stats(&s); s.Limit != 2 {
		t.Fatalf("floor 0: limit %d; want the controller's 2", s.Limit)
	}
	l.SetFloor(500) // other gateways' limits: the operator's ceiling still holds
	if l.Stats(&s); s.Limit != 100 {
		t.Fatalf("floor 500 under max_limit 100: limit %d; want 100", s.Limit)
	}
}

// TestIdleResetKeepsTheFleetCap: a gateway with nothing in flight admits
// every class again, except those another gateway's ShedBelow still
// caps. Before, a gateway whose few slots all came back in one burst
// reset its level to the top and admitted re-issues while the others shed
// show-code misses.
func TestIdleResetKeepsTheFleetCap(t *testing.T) {
	clk := newFakeClock()
	l, err := New(Config{InitialLimit: 4, MinLimit: 1, MaxLimit: 4, Now: clk.Now, AfterFunc: clk.AfterFunc,
		Classes: []ClassConfig{{Name: "high", MaxQueue: 10, MaxWait: time.Second},
			{Name: "normal", MaxQueue: 10, MaxWait: time.Second}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	l.ShedBelow(1)   // another gateway sheds normal misses
	l.level.Store(0) // and this one's own level has cut deep
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low, idle, under the fleet's cap: %v; want shed", r)
	}
	tok, r := l.Acquire(1, 1<<63, time.Time{})
	if r != ReasonNone {
		t.Fatalf("normal, idle, under the fleet's cap: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeOK)
	clk.Advance(fleetHold + time.Millisecond)
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("low, idle, the cap expired: %v; want admitted", r)
	}
}

// surgeSlot returns a limiter of classes high and low on a fake clock,
// its level in a surge's place (high only), and the token of the one
// high request in flight.
func surgeSlot(t *testing.T) (*Limiter, *fakeClock, Token) {
	t.Helper()
	clk := newFakeClock()
	l, err := New(Config{InitialLimit: 4, MinLimit: 1, MaxLimit: 4, Now: clk.Now, AfterFunc: clk.AfterFunc,
		Classes: []ClassConfig{{Name: "high", MaxQueue: 10, MaxWait: time.Second},
			{Name: "low", MaxQueue: 10, MaxWait: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	tok, r := l.Acquire(0, 0, time.Time{})
	if r != ReasonNone {
		t.Fatalf("high: %v", r)
	}
	l.level.Store(subLevels - 1)
	return l, clk, tok
}

// TestIdleResetWaitsAWindow: slots that all come back in one burst (a
// lockstep backend) are not an idle backend: the level holds until
// nothing has been in flight for a level window.
func TestIdleResetWaitsAWindow(t *testing.T) {
	l, clk, tok := surgeSlot(t)
	clk.Advance(10 * time.Millisecond)
	tok.Release(time.Millisecond, OutcomeOK) // the burst: nothing in flight
	if _, r := l.Acquire(1, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low right after the burst: %v; want shed", r)
	}
	clk.Advance(l.levelWindow)
	if _, r := l.Acquire(1, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("low after a window with nothing in flight: %v; want admitted", r)
	}
}

// TestIdleResetSeesTheLastSlotsReturn: an arrival while the last slot is
// being returned (its Release waiting for the controller's lock, as when
// a lockstep backend's whole burst of completions comes back at once) is
// not after an idle window: the level holds. Before, the slot's return
// recorded the idle time only after taking that lock, and the arrival
// paired "nothing in flight" with the idle time of an earlier lull.
func TestIdleResetSeesTheLastSlotsReturn(t *testing.T) {
	l, clk, tok := surgeSlot(t)
	clk.Advance(time.Second) // the slot was busy the whole time
	l.cmu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tok.Release(time.Millisecond, OutcomeOK) // blocks on cmu once the slot is back
	}()
	for l.inflight.Load() != 0 {
		runtime.Gosched()
	}
	res := make(chan Reason, 1)
	go func() {
		_, r := l.Acquire(1, 0, time.Time{})
		res <- r
	}()
	var r Reason
	select {
	case r = <-res:
	case <-time.After(time.Second):
		// Waiting for the lock: it took the idle time for stale and went
		// on to reset the level. Let it, and see what it decided.
		l.cmu.Unlock()
		r = <-res
		l.cmu.Lock()
	}
	l.cmu.Unlock()
	<-done
	if r != ReasonShed {
		t.Fatalf("low while the last slot came back: %v; want shed (nothing was idle for a window)", r)
	}
}

// TestIdleResetKeepsTheClassHold: an idle window in a surge (the
// generator paused) after a window cut into class normal makes normal
// whole but admits low only once classHold has passed since the cut, as
// a calm window would.
func TestIdleResetKeepsTheClassHold(t *testing.T) {
	l, clk := levelLimiter(t, "high", "normal", "low")
	cs := l.classes.Load()
	l.level.Store(2<<subBits - 1)
	for i := range cs.arrivals {
		cs.arrivals[i].Store(10)
	}
	l.loss(1) // normal lost: the window cuts into normal
	if got := endWindow(l, clk); got >= 2<<subBits-1 {
		t.Fatalf("window losing normal: level %d; want a cut into normal", got)
	}
	clk.Advance(l.levelWindow) // idle for a window: nothing in flight since New
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low after an idle window %v after the cut: %v; want shed", 2*l.levelWindow, r)
	}
	tok, r := l.Acquire(1, ^uint64(0), time.Time{})
	if r != ReasonNone {
		t.Fatalf("normal's last user after the idle window: %v; want admitted (normal whole)", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)
	clk.Advance(classHold) // idle again, past the hold
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("low idle past classHold: %v; want admitted", r)
	}
}

// TestHoldAboveKeepsHigherClassesWhileAPeerServesALowerOne: while another
// gateway admits some of class normal, this one's level keeps class high
// whole, whatever its windows want; a ShedBelow cap still wins; a peer
// whose level sits in high holds nothing.
func TestHoldAboveKeepsHigherClassesWhileAPeerServesALowerOne(t *testing.T) {
	l, clk := levelLimiter(t, "critical", "high", "normal")
	topHigh := int64(2<<subBits - 1)
	l.level.Store(subLevels + 5) // this gateway cut into high
	l.HoldAbove(2<<subBits + 10) // a peer admits some of normal
	if got := l.Level(); got != topHigh {
		t.Fatalf("level under a peer in normal: %d; want %d (high whole)", got, topHigh)
	}
	// An overloaded window wants to cut deep: the floor holds.
	l.lvl.losses.Add(1)
	l.classes.Load().arrivals[subLevels].Store(1000)
	if got := endWindow(l, clk); got != topHigh {
		t.Fatalf("overloaded window under the hold: level %d; want %d", got, topHigh)
	}
	// Another gateway loses critical requests: its cap wins.
	l.ShedBelow(0)
	l.HoldAbove(2<<subBits + 10)
	if got := l.Level(); got != subLevels-1 {
		t.Fatalf("level under a ShedBelow(critical) cap: %d; want %d", got, subLevels-1)
	}
	// A peer whose level is in high holds nothing below critical's top;
	// none heard: no floor.
	clk.Advance(fleetHold + time.Millisecond)
	l.HoldAbove(subLevels + 3)
	if f := l.levelFloor.Load(); f != subLevels-1 {
		t.Fatalf("floor under a peer in high: %d; want %d", f, subLevels-1)
	}
	l.HoldAbove(-1)
	if f := l.levelFloor.Load(); f != -1 {
		t.Fatalf("floor with no peer: %d; want -1", f)
	}
}

// TestWindowCutsNoClassAboveTheOneThatLost: an overloaded window whose
// losses were all of class normal cuts within normal, though 5% of its
// admitted arrivals reach into high; a loss of high lets it cut into
// high. And after a cut into a class, the level stays out of the classes
// below it for classHold.
func TestWindowCutsNoClassAboveTheOneThatLost(t *testing.T) {
	l, clk := levelLimiter(t, "critical", "high", "normal", "low")
	cs := l.classes.Load()
	window := func(level int64, lost int, calm bool) int64 {
		l.level.Store(level)
		for i := range cs.arrivals {
			n := uint64(10) // critical and high
			if i >= 2<<subBits {
				n = 1 // normal and low: less than 5% of the arrivals
			}
			cs.arrivals[i].Store(n)
		}
		if !calm {
			l.loss(lost)
		}
		return endWindow(l, clk)
	}
	topHigh, topNormal := int64(2<<subBits-1), int64(3<<subBits-1)
	if got := window(2<<subBits+30, 2, false); got != topHigh {
		t.Fatalf("a window losing only normal: level %d; want %d (high whole)", got, topHigh)
	}
	if got := window(topHigh, 1, false); got < subLevels || got >= topHigh {
		t.Fatalf("a window losing high: level %d; want into high (%d to %d)", got, subLevels, topHigh-1)
	}
	// A cut into normal: for classHold, calm windows stop at normal's top.
	window(topNormal, 2, false) // losing normal: cut within normal
	clk.Advance(classHold / 2)
	if got := window(topNormal, 0, true); got != topNormal {
		t.Fatalf("calm window %v after a cut into normal: level %d; want %d (no low yet)", classHold/2, got, topNormal)
	}
	clk.Advance(classHold)
	if got := window(topNormal, 0, true); got <= topNormal {
		t.Fatalf("calm window past classHold: level %d; want into low", got)
	}
}

// levelLimiter is a limiter on a fake clock with the named classes, for
// tests that drive its level windows by hand (endWindow); "normal" and
// "low" are bulk, as in the shipped config.
func levelLimiter(t *testing.T, classes ...string) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	cfg := Config{Now: clk.Now, AfterFunc: clk.AfterFunc}
	for _, name := range classes {
		cfg.Classes = append(cfg.Classes, ClassConfig{Name: name, Bulk: name == "normal" || name == "low"})
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

// endWindow moves the clock a level window on, ends the window with
// nothing served and a queue-wait target of a second, and returns the
// level it set.
func endWindow(l *Limiter, clk *fakeClock) int64 {
	clk.Advance(l.levelWindow)
	l.cmu.Lock()
	l.updateLevel(l.classes.Load(), clk.Now(), time.Second)
	l.cmu.Unlock()
	return l.level.Load()
}

// TestAFreeSlotGoesFirstToTheRankBelowTheLevel: with a slot free and
// nobody waiting, a user of the class the level cuts through takes it if
// it is at most one demand rank below the level; further below, only once
// the slot was left free a while. A level that admits keys asked for 8
// times or more lets a key asked for 6 times have a free slot at once,
// not a key asked for once (a new code: one answer, where a hot code's
// fetch answers its later requests from the cache). Measured in the
// admission bench (repeat show-code mix) before this rule: 63% of class
// normal's admissions went through free slots, whatever their rank.
func TestAFreeSlotGoesFirstToTheRankBelowTheLevel(t *testing.T) {
	l, clk := levelLimiter(t, "high", "normal")
	busy, r := l.Acquire(0, 0, time.Time{}) // something in flight: no idle reset
	if r != ReasonNone {
		t.Fatalf("high: %v", r)
	}
	defer busy.Release(time.Millisecond, OutcomeIgnore)
	d := NewDemand(1 << 12)
	const hot, cold = 0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321 // top hash bits 0
	var uHot uint64
	for range 6 {
		uHot = d.User(hot) // rank 4: the fourth eighth of the sub-levels
	}
	uCold := d.User(cold)                        // rank 0: the last eighth
	l.level.Store(1<<subBits + 3*rankLevels - 1) // normal admitted to rank 5 (8-10 requests)
	tok, r := l.Acquire(1, uHot, time.Time{})
	if r != ReasonNone {
		t.Fatalf("key asked for 6 times, one rank below the level, a slot free: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore) // the slot is free from now
	if _, r := l.Acquire(1, uCold, time.Time{}); r != ReasonShed {
		t.Fatalf("key asked for once, four ranks below the level, a slot just freed: %v; want shed", r)
	}
	clk.Advance(50 * time.Microsecond)
	if _, r := l.Acquire(1, uCold, time.Time{}); r != ReasonShed {
		t.Fatalf("the same, the slot free for 50 us: %v; want shed", r)
	}
	clk.Advance(50 * time.Microsecond)
	tok, r = l.Acquire(1, uCold, time.Time{})
	if r != ReasonNone {
		t.Fatalf("the same, the slot left free for 100 us (no RTT measured yet): %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)
	var st Stats
	l.Stats(&st)
	if n := st.Classes[1]; n.FreeNextRank != 1 || n.FreeAny != 1 {
		t.Errorf("normal by a free slot: %d within a rank, %d further; want 1 and 1", n.FreeNextRank, n.FreeAny)
	}
}

// TestAFreeSlotWaitsForEnoughArrivals: a free slot goes to a user further
// than a rank below the level only after a quarter of the minimum RTT
// and freeSlotPasses such arrivals turned away, or after a whole minimum
// RTT. A gateway that sees a third of the arrivals (one of three in a
// fleet) waits longer for its candidates, so it is as choosy as one that
// sees them all. Fails on a rule of time alone (admitted at the first
// arrival after a quarter of the minimum RTT).
func TestAFreeSlotWaitsForEnoughArrivals(t *testing.T) {
	l, clk := levelLimiter(t, "high", "normal")
	l.limit.Store(2) // one slot for high below, one to leave free
	l.minRTT.Store(int64(20 * time.Millisecond))
	busy, r := l.Acquire(0, 0, time.Time{})
	if r != ReasonNone {
		t.Fatalf("high: %v", r)
	}
	defer busy.Release(time.Millisecond, OutcomeIgnore)
	l.level.Store(1<<subBits + 3*rankLevels - 1) // normal admitted to rank 5
	d := NewDemand(1 << 12)
	cold := d.User(0x0fed_cba9_8765_4321) // rank 0, four ranks below the level

	free := func() { // takes the free slot with a user at the level and gives it back
		t.Helper()
		tok, r := l.Acquire(1, 0, time.Time{})
		if r != ReasonNone {
			t.Fatalf("normal at the top rank, a slot free: %v", r)
		}
		tok.Release(time.Millisecond, OutcomeIgnore)
	}
	turnedAway := func(n int, what string) {
		t.Helper()
		for i := range n {
			if _, r := l.Acquire(1, cold, time.Time{}); r != ReasonShed {
				t.Fatalf("%s: arrival %d admitted (%v); want shed", what, i+1, r)
			}
		}
	}
	var st Stats

	free()
	clk.Advance(5 * time.Millisecond) // a quarter of the minimum RTT
	turnedAway(freeSlotPasses, "a quarter of the minimum RTT on")
	tok, r := l.Acquire(1, cold, time.Time{})
	if r != ReasonNone {
		t.Fatalf("arrival %d after a quarter of the minimum RTT: %v; want admitted", freeSlotPasses+1, r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)

	free()
	turnedAway(2*freeSlotPasses, "many arrivals at once")
	clk.Advance(5 * time.Millisecond)
	if tok, r = l.Acquire(1, cold, time.Time{}); r != ReasonNone {
		t.Fatalf("after many arrivals and a quarter of the minimum RTT: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)

	free()
	clk.Advance(19 * time.Millisecond)
	turnedAway(1, "few arrivals, 19 ms")
	clk.Advance(time.Millisecond)
	if tok, r = l.Acquire(1, cold, time.Time{}); r != ReasonNone {
		t.Fatalf("few arrivals, the slot free a whole minimum RTT: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)

	l.Stats(&st)
	if n := st.Classes[1]; n.FreeAny != 3 || n.Admitted != 6 {
		t.Errorf("normal: admitted %d, %d of them by a free slot left free; want 6 and 3", n.Admitted, n.FreeAny)
	}
}

// TestAFreeSlotGoesAtOnceToAnUpperClass: the demand-rank wait is for the
// lowest two classes. A level cutting into class high (a gateway losing
// check-ins) lets any check-in take a free slot at once: a check-in shed
// beside a free slot is a loss with nothing gained. Before, the wait held
// the slot from 7 check-ins in 8 (their hash ranks them further than a
// rank below the level), and the three-gateway simulation's check-ins
// lost more (TestSeveralGatewaysSimulated).
func TestAFreeSlotGoesAtOnceToAnUpperClass(t *testing.T) {
	l, _ := levelLimiter(t, "critical", "high", "normal", "low")
	l.minRTT.Store(int64(20 * time.Millisecond))
	busy, r := l.Acquire(0, 0, time.Time{}) // something in flight: no idle reset
	if r != ReasonNone {
		t.Fatalf("critical: %v", r)
	}
	defer busy.Release(time.Millisecond, OutcomeIgnore)
	tok, r := l.Acquire(1, 0, time.Time{})
	if r != ReasonNone {
		t.Fatalf("high at the top rank: %v", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore) // a slot free from now
	l.level.Store(1<<subBits + rankLevels - 1)   // high admitted to its top rank only
	if tok, r = l.Acquire(1, 7<<61, time.Time{}); r != ReasonNone {
		t.Fatalf("a check-in at the bottom rank, a slot just freed: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeIgnore)
	l.level.Store(2<<subBits + rankLevels - 1) // the same cut in class normal
	if _, r := l.Acquire(2, 7<<61, time.Time{}); r != ReasonShed {
		t.Fatalf("normal at the bottom rank, a slot just freed: %v; want shed (it waits for a rank nearer the level)", r)
	}
}
