package limiter

import (
	"math"
	"sync/atomic"
	"time"
)

const (
	// subBits: each class is split into 1<<subBits user levels by the top
	// bits of the caller's user hash (DAGOR's user priority), so that the
	// admission level can shed part of a class, the same users each time.
	// With 64, one step at a 30x surge moved 0.4x the backend's capacity
	// and it ran 86% busy (TestAdmissionGrid).
	subBits   = 8
	subLevels = 1 << subBits
	// rankLevels is the user levels of one demand rank (Demand.User
	// puts the rank in the top 3 bits of the hash).
	rankLevels = subLevels / 8
	// conserveSpan: a free slot nobody waits for goes at once to a user at
	// most this many levels below the level, one demand rank (see Demand),
	// and to the class's other users only once it was left free a while
	// (Limiter.leftFree; TestAFreeSlotGoesFirstToTheRankBelowTheLevel).
	conserveSpan = rankLevels
	// levelCut is the share of admitted arrivals an overloaded window
	// sheds (DAGOR's alpha).
	levelCut = 0.05
	// levelGrow is the share of admitted arrivals a calm window admits
	// more of at least (DAGOR's beta); at least one user level.
	levelGrow = 0.05
)

// levelOf returns the admission level of a request of class c with user
// hash user: lower is more important.
func levelOf(c int, user uint64) int {
	return c<<subBits | int(user>>(64-subBits))
}

// levelCtl is the admission level's window state: the arrivals per level
// and the losses of admitted requests since the last window. Counters are
// atomics written by Acquire and the queue; the rest is guarded by
// Limiter.cmu.
type levelCtl struct {
	arrivals []atomic.Uint64 // per level, this window
	losses   atomic.Uint64   // requests admitted by the level that lost (see loss), this window
	lossTop  atomic.Int64    // the highest class (lowest index) that lost, this window; noLoss: none
	start    time.Time
	admitted uint64  // admissions (all classes) at the window's start
	waitNs   int64   // queue wait (all classes) at the window's start
	cutAt    []int64 // per class, when a window last cut into it (Unix ns)
	limit    int64   // the limit in force at the window's start
	// lostTop is the highest class that lost in a window within
	// urgencyHold before lostAt (Unix ns): see urgency.
	lostTop int
	lostAt  int64
}

// urgencyHold is how long a class's loss keeps its urgency.
const urgencyHold = time.Second

// urgency is how many classes that are not bulk, the lowest class aside,
// rank at or below the most important class this gateway is shedding:
// the class the level cuts through, or a higher one that lost within
// urgencyHold. The controller's tolerance rises with it
// (controller.tolerance). Bulk classes, and the lowest, are what a surge
// sheds at every gateway: raising every gateway's tolerance alike gains
// none of them a share and only deepens the backend's queue
// (TestUncoordinatedBaselinesHold). Called with Limiter.cmu held.
func (l *Limiter) urgency(cs *classSet, now time.Time) int {
	c := cs.marginalClass(l.level.Load())
	if w := &l.lvl; now.UnixNano()-w.lostAt < int64(urgencyHold) {
		c = min(c, w.lostTop)
	}
	u := 0
	for _, k := range cs.list[max(c, 0) : len(cs.list)-1] {
		if !k.bulk.Load() {
			u++
		}
	}
	return u
}

// loss records that a request of class c, admitted by the level, lost in
// the queue (timed out, found it full, or would have outwaited it) or was
// shed behind a higher class's standing queue: no lower class may have a
// slot while c loses, so every lower class is shed at once, without
// waiting for the window (strict priority).
func (l *Limiter) loss(c int) {
	l.lvl.losses.Add(1)
	for {
		top := l.lvl.lossTop.Load()
		if int64(c) >= top || l.lvl.lossTop.CompareAndSwap(top, int64(c)) {
			break
		}
	}
	l.shedBelow(c)
	if l.onLoss != nil {
		l.onLoss(c)
	}
}

// ShedBelow sheds every class below c now, their waiters included, as a
// loss of a class c request here would, without counting it as this
// limiter's overload: another gateway in front of the same backend lost
// one (Config.OnLoss). The level then rises again window by window while
// this gateway's windows are calm.
//
// For fleetHold after it, the level does not rise above class c: the
// signal comes again while c loses anywhere, and a calm window here must
// not hand lower classes slots in between.
func (l *Limiter) ShedBelow(c int) {
	if c >= 0 && c < len(l.classes.Load().list) {
		l.shedBelow(c)
		now := l.now()
		l.fleetCap.Store(int64((c+1)<<subBits - 1))
		l.fleetCapUntil.Store(now.Add(fleetHold).UnixNano())
		if l.waiting.Load() > 0 {
			l.mu.Lock()
			l.drainBelow(c, now)
			l.mu.Unlock()
		}
	}
}

// HoldAbove takes the highest admission level another gateway of a fleet
// reported lately (Level; -1: none heard): while some gateway admits
// requests of class c, this one keeps every class above c whole, so that
// its level sheds a higher class only once no gateway serves a lower one
// (strict priority across the fleet, from DAGOR's shared level;
// TestHoldAboveKeepsHigherClassesWhileAPeerServesALowerOne). A ShedBelow
// cap still wins over it: that gateway is losing.
func (l *Limiter) HoldAbove(peerLevel int64) {
	floor := int64(-1)
	if peerLevel >= 0 {
		floor = (peerLevel>>subBits)<<subBits - 1
	}
	l.levelFloor.Store(floor)
	for {
		cur := l.level.Load()
		if cur >= floor || l.capped(l.now()) || l.level.CompareAndSwap(cur, floor) {
			return
		}
	}
}

// Level is the admission level in force: requests of class c and user
// level u are admitted while c<<6|u <= Level. A fleet sends it to the
// other gateways (HoldAbove).
func (l *Limiter) Level() int64 { return l.level.Load() }

// capped reports whether another gateway's ShedBelow caps the level now.
func (l *Limiter) capped(now time.Time) bool { return now.UnixNano() < l.fleetCapUntil.Load() }

// noLoss is levelCtl.lossTop when nothing lost.
const noLoss = math.MaxInt64

// classHold is how long after a window cut into class c (shed some of
// its users) the level stays out of every class below c.
const classHold = time.Second

// cutInto records that a window cut into class c at now. Called with
// Limiter.cmu held.
func (w *levelCtl) cutInto(c int, now time.Time) {
	for len(w.cutAt) <= c {
		w.cutAt = append(w.cutAt, 0)
	}
	w.cutAt[c] = now.UnixNano()
}

// cutRecently reports whether a window cut into class c or a higher one
// within classHold of now. Called with Limiter.cmu held.
func (w *levelCtl) cutRecently(c int, now time.Time) bool {
	for i := 0; i <= c && i < len(w.cutAt); i++ {
		if now.UnixNano()-w.cutAt[i] < int64(classHold) {
			return true
		}
	}
	return false
}

// fleetHold is how long another gateway's ShedBelow caps the level.
const fleetHold = 100 * time.Millisecond

func (l *Limiter) shedBelow(c int) {
	top := int64((c+1)<<subBits - 1)
	for {
		cur := l.level.Load()
		if cur <= top || l.level.CompareAndSwap(cur, top) {
			return
		}
	}
}

// reopenAfterSilence reopens the level, class holds and all, below a
// fleet's cap: what it shed while the backend was silent was the
// silence's queue, not overload (TestASilenceBeforeSlowerAnswersIsNotAQueue).
// Called with cmu held.
func (l *Limiter) reopenAfterSilence(cs *classSet, now time.Time) {
	clear(l.lvl.cutAt)
	lv := cs.maxLevel()
	if l.capped(now) {
		lv = min(lv, l.fleetCap.Load())
	}
	l.level.Store(max(l.level.Load(), lv))
}

// marginalClass is the class the admission level cuts through: the class
// of the first user level it excludes, or the lowest class when it
// excludes none. A level at the top sub-level of a class admits that
// whole class, so the class below is the marginal one: read as the
// level's own class, the class below waited only OverloadWait
// (TestMarginalClass).
func (cs *classSet) marginalClass(level int64) int {
	return min(int((level+1)>>subBits), len(cs.list)-1)
}

// maxLevel is the level that admits every class of cs.
func (cs *classSet) maxLevel() int64 { return int64(len(cs.list)<<subBits - 1) }

// updateLevel ends a level window when one is due: an overloaded window
// (losses, or a mean queue wait above target) lowers the level so that
// the admitted arrivals fall by levelCut; a calm one raises it by
// levelGrow. Called with cmu held.
func (l *Limiter) updateLevel(cs *classSet, now time.Time, target time.Duration) {
	w := &l.lvl
	d := now.Sub(w.start)
	if d < l.levelWindow {
		return
	}
	var adm uint64
	var wns int64
	for _, k := range cs.list {
		adm += k.admitted.Load()
		wns += k.waitNs.Load()
	}
	var wait time.Duration
	if n := adm - w.admitted; n > 0 {
		wait = time.Duration(wns-w.waitNs) / time.Duration(n)
	}
	losses := w.losses.Swap(0)
	lim := l.limit.Load()
	lossTop := int(w.lossTop.Swap(noLoss))
	level := l.level.Load()
	var in float64 // arrivals this window at admitted levels
	counts := l.levelCounts[:0]
	for i := range cs.arrivals {
		n := float64(cs.arrivals[i].Swap(0))
		counts = append(counts, n)
		if int64(i) <= level {
			in += n
		}
	}
	l.levelCounts = counts
	lo := int64(subLevels - 1) // the top class is never shed by the level
	if losses > 0 && (lossTop <= w.lostTop || now.UnixNano()-w.lostAt >= int64(urgencyHold)) {
		w.lostTop, w.lostAt = lossTop, now.UnixNano()
	}
	switch {
	case losses > 0 || wait > target:
		want := (1 - levelCut) * in
		// A window cuts no class above the highest one that lost in it
		// (or, losing nothing, above the class the level cuts through):
		// a whole class is shed only by its own losses. Cut by volume
		// alone, a lockstep backend's bursty window counts cut into
		// the high class while only the normal class was losing.
		floor := cs.marginalClass(level)
		if losses > 0 {
			floor = min(floor, lossTop)
		}
		level = max(lo, int64(floor<<subBits)-1, min(level-1, highestWithin(counts, want)))
		w.cutInto(cs.marginalClass(level), now) // the highest class it sheds users of
	case level < cs.maxLevel():
		// The level admits at least as much more as the limit grew
		// since the last window (slow start doubles it): a 5% step
		// took seconds to reopen a class cut while the limit ramped
		// (TestAdmissionGrid).
		grow := max(levelGrow, float64(lim)/float64(max(w.limit, 1))-1)
		next := max(level+1, highestWithin(counts, (1+grow)*in))
		// Strict priority: the level enters a lower class only a
		// classHold after a window last cut into this class or a higher
		// one: at a class's top it otherwise alternated, window by window,
		// between admitting some of the class below and shedding some of
		// its own (a single gateway admitted the low class at 31-64/s
		// through seconds that shed the normal class:
		// TestWindowCutsNoClassAboveTheOneThatLost).
		if top := classTop(level); next > top && w.cutRecently(int(level>>subBits), now) {
			next = top
		}
		level = next
	}
	level = max(level, l.levelFloor.Load())
	if l.capped(now) {
		level = min(level, l.fleetCap.Load())
	}
	l.level.Store(min(max(level, lo), cs.maxLevel()))
	w.start, w.admitted, w.waitNs, w.limit = now, adm, wns, lim
}

// classTop is the top user level of the class level is in: the level
// that admits the whole class.
func classTop(level int64) int64 { return (level>>subBits+1)<<subBits - 1 }

// highestWithin returns the highest level whose arrivals, with those of
// every level above it, sum to at most want; -1 if the first exceeds it.
func highestWithin(counts []float64, want float64) int64 {
	var sum float64
	for i, n := range counts {
		sum += n
		if sum > want {
			return int64(i) - 1
		}
	}
	return int64(len(counts)) - 1
}
