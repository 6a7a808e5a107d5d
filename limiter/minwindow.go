package limiter

import "time"

// minWindow is a windowed minimum over a span of time, kept in 32 buckets
// of span/32 each: O(1) memory, O(32) to read.
type minWindow struct {
	width time.Duration
	base  time.Time
	slot  [32]struct {
		idx int64 // bucket number + 1; 0 means empty
		v   time.Duration
	}
}

func (w *minWindow) init(span time.Duration, base time.Time) {
	w.width = max(span/32, 1)
	w.base = base
	clear(w.slot[:])
}

func (w *minWindow) bucket(now time.Time) int64 {
	return int64(max(now.Sub(w.base), 0)/w.width) + 1
}

func (w *minWindow) add(now time.Time, v time.Duration) {
	b := w.bucket(now)
	s := &w.slot[b%32]
	if s.idx != b || v < s.v {
		s.idx, s.v = b, v
	}
}

// min returns the minimum over the span, or 0 if nothing was added in it.
func (w *minWindow) min(now time.Time) time.Duration {
	b := w.bucket(now)
	var m time.Duration
	for _, s := range w.slot {
		if s.idx != 0 && s.idx > b-32 && s.idx <= b && (m == 0 || s.v < m) {
			m = s.v
		}
	}
	return m
}

func (w *minWindow) reset(now time.Time, v time.Duration) {
	clear(w.slot[:])
	w.add(now, v)
}

// rescale changes the span, keeping the current minimum.
func (w *minWindow) rescale(span time.Duration, now time.Time) {
	m := w.min(now)
	w.init(span, now)
	if m > 0 {
		w.add(now, m)
	}
}
