// Package limiter decides which requests reach the backend: an adaptive
// concurrency limit learned from live traffic, priority classes with bounded
// queues under that limit, per-key token buckets, and the Retry-After to
// give the requests it turns away.
//
// It knows no HTTP and imports no other package of this project: the
// gateway maps routes to classes, outcomes to Outcome and reasons to status
// codes. Its clock (Config.Now, Config.AfterFunc) is injectable so that
// tests can drive it in simulated time.
//
// # The adaptive limit
//
// The limit bounds requests in flight to the backend. A controller updates
// it once per sample window (at least SampleWindow and MinSamples
// completions long) from the RTTs of requests admitted in that window:
//
//  1. baseline = windowed minimum (BaselineWindow) of per-window p90 RTTs:
//     the p90 the backend gives when nothing queues.
//  2. q = window p90 / baseline. If q > Tolerance: limit ×= 1 - (1 - g)/2
//     with g = max(0.5, Tolerance/q), half the gradient step. Else, if
//     in-flight reached half the limit: limit += max(1, sqrt(limit)/2).
//  3. Too many OutcomeOverload (timeouts, 5xx) in a window: limit ×=
//     BackoffRatio instead.
//  4. Every ProbeInterval (jittered; at once when there is no baseline) the
//     limit is halved for one window to re-measure the baseline, unless load
//     was already below that. If halving divided the mean RTT by more than
//     max(1.5, 1.25×Tolerance), the old level was queueing: halve again
//     (the mean, not the p90: just above the knee, with workers in
//     lockstep, the p90 exaggerates a queue of one).
//     The limit then becomes max over the levels tried of
//     level × min(1, Tolerance × baseline / p90): Little's law's estimate of
//     the concurrency the backend absorbs without queueing.
//  5. If in-flight halved without the p90 improving by 10%, or the limit sat
//     at MinLimit for 3 windows with latency above tolerance, the latency is
//     the backend's own: the baseline is reset to the current p90.
//
// # Why this design, and not a copy of Envoy or Netflix
//
// Envoy's adaptive concurrency filter (gradient controller) measures minRTT
// by pinning concurrency to min_concurrency (default 3) until request_count
// samples arrive, every interval: its users see 503 bursts during that
// window (envoy#8337, #18152), minRTT skewed upward by requests admitted
// before the window (#11579, fixed by ignoring earlier epochs), and a
// min_concurrency that is both the probe level and a floor (#46532, #38338).
// It also triggers re-measurement after 5 windows at the floor (#10647).
// Netflix's Gradient2 compares a short RTT with a long exponential average
// instead of a minimum, which tolerates noise but follows sustained
// overload upward: the limit drifts up (concurrency-limits#137, #134, #88);
// its "don't grow when in-flight < limit/2" rule guards against growth while
// app-limited. Vegas uses the true minimum RTT, which is biased low by
// lucky samples and goes stale; it re-probes by resetting the minimum.
//
// What we take: windowed minimum (so it can re-measure and rise; Envoy,
// Vegas), epochs (#11579), growth only when the limit was used (Gradient2,
// Vegas), the floor trigger (#10647), multiplicative decrease on drops
// (AIMD). What we change: the baseline compares like with like (p90 against
// the no-queue p90, not against a single lucky minimum), so noisy RTT does
// not read as queueing; the probe halves the limit rather than pinning it
// to a tiny value, lasts one window, is skipped when load is light, and
// queued requests wait through it instead of being rejected; and a probe
// continues halving only while that still shortens latency, which is also
// how a limit configured 10× too high finds the knee in a second. At
// steady state the limit hovers around Tolerance × the backend's knee
// (1.2× by default: backend latency about 20% above unloaded, full
// throughput). Cuts take half the gradient step per window because RTT is
// not always linear in in-flight: workers running in lockstep make queued
// requests wait whole service times, and a full step then overshoots.
// Windows need 20 samples: with fewer, the p90 of a window is nearly its
// maximum and the minimum of such noisy p90s reads every window as queueing.
//
// Admission reads the limit from an atomic: a request finding a free slot
// and no waiter of its class or above takes it with one CAS, and a
// rejection decided at once (queue full, higher class standing) takes no
// lock and allocates nothing. Release takes a mutex to feed the controller:
// releases come at the backend's rate, rejections at the offered rate.
//
// # Queues
//
// Each class has a bounded queue (MaxQueue) and a MaxWait. A freed slot
// goes to the highest class with waiters; a lower class gets one only when
// no higher class waits. Within a class the queue is FIFO while it drains
// and LIFO once it has not emptied for LIFOAfter (adaptive LIFO, as in
// Facebook's queueing for overload): in a standing queue the newest request
// is the one most likely to still have a client. A standing queue also
// bounds new waits to OverloadWait (CoDel's controlled delay), except in
// the highest class, whose bursts must wait rather than fail (measured: with
// the short wait, a burst of test-site scans under a 10x surge lost half of
// them to 2 ms timeouts while the backend had room for all), and while a
// class has a standing queue every lower class is shed at once (ReasonShed)
// instead of waiting for slots it cannot get. A waiter whose deadline is
// closer than the minimum RTT is dropped (ReasonDeadline) before it reaches
// the backend. Waiters are pooled, each with its own reusable timer.
//
// # Per-key rate
//
// KeyRate keeps token buckets for any number of keys in a fixed table of
// 8-way sets, sharded by lock: a new key takes a free or the least recently
// seen entry of its set, starting with a full bucket. Memory is bounded by
// MaxKeys; Allow allocates nothing.
package limiter
