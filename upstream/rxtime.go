package upstream

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Timing is how one round trip to a target was timed (TimingOf).
type Timing struct {
	// RTT is the backend's round trip: from the moment the request's
	// last bytes were handed to the kernel to the moment the first bytes
	// of its answer arrived in the kernel (Kernel), or, where the
	// platform gives no receive timestamps, the caller's wall-clock time
	// around Send.
	RTT time.Duration
	// Local is how much longer than RTT the caller held the request: the
	// time its answer waited in the kernel to be read, sending late,
	// parsing. Zero when not Kernel.
	Local time.Duration
	// Kernel says RTT came from kernel receive timestamps.
	Kernel bool
}

// Counters of the answers timed each way, for /status and metrics.
var timedKernel, timedWall atomic.Uint64

// TimedAnswers returns how many answers were timed by kernel receive
// timestamps and how many by the wall clock (TimingOf).
func TimedAnswers() (kernel, wall uint64) { return timedKernel.Load(), timedWall.Load() }

// TimingSource names the timing new connections use: "kernel" where the
// platform gives TCP receive timestamps (Linux SO_TIMESTAMPNS), else
// "wall".
func TimingSource() string {
	if kernelTimestamps() {
		return "kernel"
	}
	return "wall"
}

// TimingOf returns how the answer in resp was timed, given wall, the
// caller's own measure of the round trip (around Send). An answer read on
// a connection with receive timestamps gives the kernel's round trip and
// the caller's delay on top of it; any other, wall. It allocates nothing.
func TimingOf(resp *fasthttp.Response, wall time.Duration) Timing {
	if a, ok := resp.RemoteAddr().(*rxAddr); ok {
		sent, rx := a.sent.Load(), a.rx.Load()
		if rtt := time.Duration(rx - sent); sent > 0 && rx > 0 && rtt >= 0 && rtt <= wall {
			timedKernel.Add(1)
			return Timing{RTT: rtt, Local: wall - rtt, Kernel: true}
		}
	}
	timedWall.Add(1)
	return Timing{RTT: wall}
}

// rxAddr is a timed connection's remote address as one round trip sees
// it: fasthttp reads a connection's RemoteAddr once per round trip
// (Response.ParseNetConn), before writing the request, and the
// connection hands out the next of its rxSlots records, which its Write
// and first Read then fill in. A record is reused rxSlots round trips
// later on the same connection; TimingOf reads it right after Send
// returns (TestTimingOfSurvivesReuse).
type rxAddr struct {
	net.Addr
	sent atomic.Int64 // wall-clock Unix ns when the request's last write returned
	rx   atomic.Int64 // kernel receive time of the answer's first read (Unix ns); 0: none yet
}

// rxSlots is how many round trips a connection's timing records last.
const rxSlots = 8
