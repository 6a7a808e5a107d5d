package limiter

import (
	"math"
	"time"
)

// A silence: the backend answered nothing newer for a while, with
// requests out, then answered late. The controller's fields lastSent,
// progress, quietN, stallSlots, stallEnd and silences hold its state.

// silence takes one release. A queueing backend answers at its
// capacity, so a backend that answered nothing newer for longer than
// tolerance allows of any recent answer, while requests were out all
// along (busy: since in-flight last rose from zero), and that then
// answers OK but late got slower, not busier: by Little's law the
// requests out hold the best delivery rate times the extra round trip,
// and those slots stand until the window after this answer measured the
// new round trip (afterStall; TestASilenceBeforeSlowerAnswersIsNotAQueue).
// It reports whether they changed. Stragglers (old requests answered
// late) are not newer answers, so exponential service does not hide a
// silence; but at most an eighth of what those out could have answered
// may come in it, or 5 exponential workers answering out of order read
// as silences (TestAdmissionGrid's queue criterion).
func (c *controller) silence(now, busy time.Time, rtt, local time.Duration, o Outcome, inflight int64) bool {
	sent := now.Add(-rtt - local)
	last := c.progress
	b := c.baseline.min(now)
	after := time.Duration(c.cfg.tolerance*float64(max(b, c.lastP90))) + 2*c.local
	quietN := c.quietN
	if sent.After(c.lastSent) {
		c.lastSent, c.progress, c.quietN = sent, now, 0
	} else {
		c.quietN++
	}
	quiet := now.Sub(later(last, busy))
	if b == 0 || o != OutcomeOK || rtt <= after || quiet <= after || quiet > rtt+local {
		return false // the common case: no silence, and no rate to read
	}
	best := c.bestRate(now)
	rate := math.Min(best, float64(inflight)/b.Seconds()) // what those out could have answered
	if missing := rate * quiet.Seconds(); missing < float64(c.cfg.minSamples) || float64(quietN) > missing/8 {
		return false
	}
	s := best * (rtt - b).Seconds()
	if s <= c.stallSlots {
		return false
	}
	if c.stallEnd.IsZero() {
		c.silences++
	}
	c.stallSlots, c.stallEnd = s, now
	return true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// afterStall ends a stall once a window measured the answers after it:
// if every answer came back slower than tolerance allows of the fastest
// before, the backend got slower, so the baseline follows and the limit
// holds the best delivery rate at the new round trip (Little's law),
// with tolerance to spare. Either way the stall's slots go.
func (c *controller) afterStall(now time.Time, p90, lo, fastest time.Duration) {
	if p90 > 0 && lo > 0 && c.slower(lo, fastest) {
		c.rebaseTo(now, p90, lo)
		c.limit = c.clamp(math.Max(c.limit, c.tolerance()*c.bestRate(now)*c.meanRTT().Seconds()))
		c.cap, c.chainN = 0, 0
	}
	c.stallSlots, c.stallEnd = 0, time.Time{}
}
