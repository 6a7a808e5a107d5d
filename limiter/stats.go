package limiter

import (
	"math"
	"time"
)

// Stats is a snapshot of a Limiter, filled by Limiter.Stats into a
// caller-owned value that can be reused without allocating.
type Stats struct {
	// Limit is the concurrency limit admission uses now (halved while a
	// probe runs).
	Limit int
	// InFlight is the number of admitted requests not yet released.
	InFlight int
	// Probing is true while a probe re-measures the baseline RTT.
	Probing bool
	// MinRTT is the smallest RTT sample of the last BaselineWindow.
	MinRTT time.Duration
	// BaselineRTT is the no-queue p90 RTT the controller compares with.
	BaselineRTT time.Duration
	// P90RTT is the p90 RTT of the last completed sample window.
	P90RTT time.Duration
	// Tolerance is the P90RTT/BaselineRTT ratio above which the limit is
	// cut now: Config.Tolerance, raised while this limiter sheds or loses
	// a class that is not bulk (ClassConfig.Bulk).
	Tolerance float64
	// DrainRate is completions (releases) per second, smoothed.
	DrainRate float64
	// LocalDelay is the recent mean of the callers' own delay on top of
	// each backend round trip (ReleaseTimed): its slots are added to Limit.
	LocalDelay time.Duration
	// QueueDelayTarget is the mean queue wait above which the admission
	// level sheds more.
	QueueDelayTarget time.Duration
	// Silences counts the times the backend answered nothing for a while
	// and then answered late: it got slower, and the limit took the
	// slots the longer round trip holds.
	Silences uint64
	// Classes has one entry per class, highest priority first.
	Classes []ClassStats
}

// ClassStats describes one priority class.
type ClassStats struct {
	Name       string
	QueueDepth int
	// Admitted counts requests admitted, at once or after waiting.
	Admitted uint64
	// FreeNextRank and FreeAny count the admitted (of Admitted) that the
	// admission level cut off, taken in by a slot nobody waited for:
	// within a demand rank of the level (at once), and further below (in
	// a bulk class once the slot was left free a while, in any other at
	// once; see Limiter.Acquire).
	FreeNextRank, FreeAny uint64
	// Rejected counts rejections by Reason (index ReasonNone stays 0).
	Rejected [NumReasons]uint64
	// MeanWait is the recent mean time admitted requests spent queued
	// (zero for those admitted at once).
	MeanWait time.Duration
	// Admitting is the share of the class's users the admission level
	// lets through: 1 all, 0 none (then only an idle backend takes them).
	Admitting float64
}

// Stats fills s. It allocates only when s.Classes must grow.
func (l *Limiter) Stats(s *Stats) {
	cs := l.classes.Load()
	s.Classes = s.Classes[:0]
	l.cmu.Lock()
	now := l.now()
	s.Probing = l.ctl.cap > 0
	s.MinRTT = l.ctl.minRTT.min(now)
	s.BaselineRTT = l.ctl.baseline.min(now)
	s.P90RTT = l.ctl.lastP90
	s.Tolerance = l.ctl.toleranceAt(l.urgency(cs, now))
	s.QueueDelayTarget = l.queueDelayTarget(now)
	s.LocalDelay = l.ctl.local
	s.Silences = l.ctl.silences
	level := l.level.Load()
	for i, k := range cs.list {
		admitting := float64(min(max(level-int64(i<<subBits)+1, 0), subLevels)) / subLevels
		s.Classes = append(s.Classes, ClassStats{Name: k.name, MeanWait: time.Duration(k.meanWait), Admitting: admitting})
	}
	l.cmu.Unlock()
	s.Limit = int(l.limit.Load())
	s.InFlight = int(l.inflight.Load())
	s.DrainRate = math.Float64frombits(l.drain.Load())
	for i, k := range cs.list {
		cl := &s.Classes[i]
		cl.QueueDepth = int(k.depth.Load())
		cl.Admitted = k.admitted.Load()
		cl.FreeNextRank, cl.FreeAny = k.freeNext.Load(), k.freeAny.Load()
		for r := range cl.Rejected {
			cl.Rejected[r] = k.rejected[r].Load()
		}
	}
}
