package limiter

import (
	"math"
	"math/rand/v2"
)

const (
	// retryJitter spreads Retry-After uniformly over ±30% of its base.
	retryJitter = 0.3
	// maxRetryAfter and minRetryAfter clamp RetryAfter, in seconds.
	maxRetryAfter = 60
	minRetryAfter = 1
)

// RetryAfter returns the whole seconds a rejected request of class c should
// wait before retrying: the backlog ahead of it (the waiters of its class
// and higher ones, plus the requests of those classes turned away in the
// last second, who will be back too) divided by the current drain rate
// (completions per second), with ±30% jitter and randomized rounding so
// that rejected clients do not return as one wave, clamped to [1, 60].
// With no drain rate measured yet the base is 1s. It allocates nothing.
func (l *Limiter) RetryAfter(c int) int {
	cs := l.classes.Load()
	var ahead float64
	for i, k := range cs.list {
		if i > c {
			break
		}
		ahead += float64(k.depth.Load()) + math.Float64frombits(k.rejRate.Load())
	}
	rate := math.Float64frombits(l.drain.Load())
	return retryAfter(ahead, rate, rand.Float64(), rand.Float64())
}

// retryAfter is RetryAfter's arithmetic; u1 and u2 are uniform in [0, 1).
func retryAfter(ahead, rate, u1, u2 float64) int {
	base := 1.0
	if rate > 0 {
		base = max(base, (ahead+1)/rate)
	}
	secs := base * (1 + retryJitter*(2*u1-1))
	n := math.Floor(secs)
	if u2 < secs-n {
		n++ // randomized rounding: the mean stays secs
	}
	return int(min(max(n, minRetryAfter), maxRetryAfter))
}
