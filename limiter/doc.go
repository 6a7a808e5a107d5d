// Package limiter decides which requests reach the backend: an adaptive
// concurrency limit learned from the backend's round trips, an admission
// level that sheds by priority class and user at arrival, bounded class
// queues under the limit, per-key token buckets, and the Retry-After to
// give the requests it turns away.
//
// It knows no HTTP and imports no other package of this project: the
// gateway maps routes to classes, answers to Outcome and reasons to status
// codes. Its clock (Config.Now, Config.AfterFunc) is injectable, so that
// tests drive it in simulated time (TestAdmissionGrid runs the whole grid
// of backends, surges, clients and faults that way).
//
// # Use
//
// Acquire(class, user, deadline) returns a Token or the Reason it was
// refused. The caller sends the request and calls Token.ReleaseTimed with
// the backend's own round trip (kernel receive timestamps take out the
// time its answer waited to be read), its own delay on top of it, and
// the Outcome: a timeout is overload; an error answer says nothing about
// load. Release is ReleaseTimed without a local delay.
//
// # Invariants
//
//   - Requests at the backend never exceed the limit; the limit in force
//     adds the slots the caller's own delay holds (Little's law), so that
//     a gateway slow to read answers does not starve the backend.
//   - Strict priority without barging: a freed slot goes to the head of
//     the highest non-empty class queue, and an arrival takes a free slot
//     only when nobody waits at or above its class.
//   - The admission level is the lowest (class, user level) admitted; a
//     request below it is refused at arrival with one atomic load, no
//     lock and no allocation. The top class is never shed by the level.
//   - While a class loses a request (its queue full, a wait timed out, a
//     standing queue above it), every lower class is shed at once, its
//     waiters included; Config.OnLoss and ShedBelow carry that event
//     across a fleet.
//   - Within a class, the level sheds by the top 8 bits of the user hash
//     (256 user levels): the same users each time, not everyone a share
//     of their attempts.
//     Demand ranks a cached route's keys so that the backend's share of a
//     bulk class (ClassConfig.Bulk) goes first to keys asked for again.
//   - Every queue is bounded by MaxQueue and MaxWait; a request that would
//     outwait its budget at the current drain rate is refused at once.
//   - Rejections decided at once allocate nothing; Release takes a mutex
//     at the backend's rate, not the offered rate.
//   - KeyRate's memory is bounded by MaxKeys; Allow allocates nothing.
//
// # The limit
//
// The limit starts at an eighth of InitialLimit (at least 16); after the
// first window a probe measures it, and in slow start it doubles each
// window that used it within tolerance, up to InitialLimit. A controller
// updates it once per sample window (SampleWindow, and MinSamples or half
// the limit, whichever is more) from the round trips of requests admitted
// in that window: it cuts by half the gradient step when the window's p90
// exceeds Tolerance × the baseline (the windowed minimum of the p90s of
// pooled samples, up to 400 or a second's) plus the queue that the jitter
// of the caller's own delay needs, grows when the limit was used and
// latency is within tolerance, backs off on timeouts, never sits above
// twice what a window had in flight, and every ProbeInterval halves
// itself for a window to re-measure the baseline. The limit and a
// window's in-flight count are both in the backend's terms: the slots
// that the caller's own delay holds (ReleaseTimed's local) are added by
// Little's law. A backend whose latency rose without queueing
// is rebased, and slow start resumes up to what the best recent delivery
// rate needs at the new round trip (Little's law). A backend that answers
// nothing for a while and then answers late got slower, not busier (a
// queueing one answers at its capacity): the limit takes the slots the
// late round trip holds at once, the level reopens, and the next window
// rebases.
//
// # The level
//
// Every SampleWindow the level falls when admitted requests lost or their
// mean queue wait exceeded QueueDelayTarget (by 5% of the admitted
// arrivals, DAGOR's alpha), and rises when the window was calm, by 5% of
// the admitted arrivals or as much as the limit grew; it enters a lower
// class only a second after a window last cut into its own or a higher
// one, and cuts no class above the highest that lost.
//
// The design, the reason for each rule, the test that pins it and the
// alternatives rejected are in docs/design/admission.md; the runs behind
// the figures are in docs/admission-runs.md.
package limiter
