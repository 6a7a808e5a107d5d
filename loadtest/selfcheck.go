package loadtest

import (
	"runtime"
	"time"
)

// Self-check limits: when the generator itself may be the bottleneck.
const (
	// LateThreshold is how far behind its schedule a send counts as late.
	LateThreshold = 5 * time.Millisecond
	// cpuSaturated is the share of the machine's cores this process may
	// use before the results may be the generator's, not the target's.
	cpuSaturated = 0.9
	// machineSaturated is the share of the machine busy (everything on
	// it) above which the warning says the machine is saturated.
	machineSaturated = 0.97
	// warnEvery throttles the warnings of one kind.
	warnEvery = 5 * time.Second
)

// Generator is the harness's report on itself: whether the numbers are the
// target's or the generator's.
type Generator struct {
	SendLagMs         Latency  `json:"send_lag_ms"`          // dispatch time minus scheduled time
	LateThresholdMs   float64  `json:"late_threshold_ms"`    // a send later than this is late
	CPUMaxPct         float64  `json:"cpu_max_pct"`          // this process, highest 1-s sample, % of one core
	CPUAvgPct         float64  `json:"cpu_avg_pct"`          // this process over the run, % of one core
	Cores             int      `json:"cores"`                // GOMAXPROCS
	MachineBusyMaxPct float64  `json:"machine_busy_max_pct"` // whole machine, highest 1-s sample, % of all cores
	MaxInFlight       int64    `json:"max_in_flight"`        // highest tries in flight (retries waiting their pause are not)
	DroppedRetries    int64    `json:"dropped_retries"`      // retries not sent: the in-flight cap was reached
	InFlightCap       int      `json:"in_flight_cap"`
	Connections       int      `json:"connections"`
	Pipeline          int      `json:"pipeline,omitempty"` // requests pipelined per connection; 0: one at a time
	Warnings          []string `json:"warnings"`
}

// selfCheck samples the generator's CPU and send lag every second until
// stop is closed, warning (throttled) when it may be the bottleneck, and
// fills g.
func (r *runner) selfCheck(stop <-chan struct{}, g *Generator) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cores := runtime.GOMAXPROCS(0)
	g.Cores = cores
	cpu0, _ := processCPU()
	lastCPU, lastT := cpu0, time.Now()
	busy0, total0, _ := machineCPU()
	var lastSent, lastLate int64
	warned := map[string]time.Time{}
	warn := func(kind, format string, args ...any) {
		if time.Since(warned[kind]) >= warnEvery {
			warned[kind] = time.Now()
			r.con.printf("warning: "+format, args...)
		}
	}
	for {
		select {
		case <-stop:
			if cpu, ok := processCPU(); ok {
				g.CPUAvgPct = 100 * float64(cpu-cpu0) / float64(time.Since(r.start))
			}
			return
		case <-tick.C:
		}
		now := time.Now()
		if cpu, ok := processCPU(); ok {
			pct := 100 * float64(cpu-lastCPU) / float64(now.Sub(lastT))
			g.CPUMaxPct = max(g.CPUMaxPct, pct)
			if pct > cpuSaturated*100*float64(cores) {
				warn("cpu", "generator CPU at %.0f%% of %d cores: the harness may be the bottleneck", pct, cores)
			}
			lastCPU = cpu
		}
		lastT = now
		if busy, total, ok := machineCPU(); ok && total > total0 {
			share := float64(busy-busy0) / float64(total-total0)
			g.MachineBusyMaxPct = max(g.MachineBusyMaxPct, 100*share)
			if share > machineSaturated {
				warn("machine", "machine CPU %.0f%% busy (generator, target and whatever else runs here): latencies include waiting for a core", 100*share)
			}
			busy0, total0 = busy, total
		}
		sent, late := r.live.sent.Load(), r.live.late.Load()
		if ds, dl := sent-lastSent, late-lastLate; dl > 0 && dl*100 > ds {
			warn("lag", "%d of %d sends in the last second left more than %v late (worst %v): the generator cannot keep its schedule",
				dl, ds, LateThreshold, time.Duration(r.live.maxLag.Swap(0)).Round(time.Microsecond))
		}
		lastSent, lastLate = sent, late
	}
}
