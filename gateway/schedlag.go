package gateway

import (
	"sync/atomic"
	"time"
)

// schedLag estimates how long a goroutine that becomes runnable waits for
// a CPU in this process: a goroutine sleeps schedLagTick at a time and
// records how late it wakes, smoothed. A round trip to the backend, timed
// around the upstream call, includes that wait for the goroutine reading
// the answer; on a CPU-starved gateway (a surge, or a load generator on the
// same cores) it would look like backend latency and make the adaptive
// limit throttle a backend that is idle. admit feeds the limiter the round
// trip less this lag (measured: during a launch-day rehearsal on 2 shared
// cores the gateway saw a p90 of 137 ms against a 20 ms backend and held
// the limit at 4).
type schedLag struct {
	ns atomic.Int64 // smoothed lateness
}

const schedLagTick = 5 * time.Millisecond

func (l *schedLag) run(stop <-chan struct{}) {
	var smooth float64
	for {
		select {
		case <-stop:
			return
		default:
		}
		before := time.Now()
		time.Sleep(schedLagTick)
		late := float64(time.Since(before) - schedLagTick)
		// Rise fast, fall slowly: a starved moment shows at once.
		if late > smooth {
			smooth += 0.5 * (late - smooth)
		} else {
			smooth += 0.1 * (late - smooth)
		}
		l.ns.Store(int64(max(smooth, 0)))
	}
}

// adjust returns rtt less the scheduling lag, never below a quarter of rtt.
func (l *schedLag) adjust(rtt time.Duration) time.Duration {
	return max(rtt-time.Duration(l.ns.Load()), rtt/4)
}

// current returns the smoothed lag.
func (l *schedLag) current() time.Duration { return time.Duration(l.ns.Load()) }
