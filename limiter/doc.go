// Package limiter decides which requests reach the backend: an adaptive
// concurrency limit learned from live traffic, an admission level that
// sheds by priority class and user at arrival, bounded class queues under
// the limit, per-key token buckets, and the Retry-After to give the
// requests it turns away.
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
//     (A gateway shedding or losing a class above the lowest two uses a
//     higher tolerance: see "Several gateways" below.)
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
//     the backend's own: the baseline is reset to the current p90 -- if
//     the window's fastest answer was slower too (above Tolerance × the
//     fastest of BaselineWindow), or after 30 windows at MinLimit.
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
// Windows need 10 samples (MinSamples) and 100 ms: with fewer samples the
// p90 of a window is nearly its maximum and the minimum of such noisy p90s
// reads every window as queueing. It was 20; but a window that waits for
// its samples is longer at a gateway holding a small share of a backend
// that several gateways share, which then adjusts less often than the
// others and loses its share to them (TCP's RTT unfairness in another
// form). With 10, every gateway of a fleet in front of the test issuer
// adjusts on the 100 ms clock (three gateways: check-ins 93-96% served
// with 20 samples, 98-99% with 8 or 10); one gateway on a backend with
// ±50% service-time noise, started at a limit ten times too low, takes
// 4.4 s instead of 2.7 s to reach its knee.
//
// # The limit when the gateway itself is overloaded
//
// A round trip timed by the gateway includes the time the answer waits on
// the gateway's side to be read (for the network poller, for a CPU). A
// gateway answering tens of thousands of retried attempts per second on
// shared cores read answers ~300 ms late from a backend answering in
// 20 ms, and the gradient above read that as queueing: the limit fell to
// its floor in front of an idle backend (brpc's docs name this weakness of
// gradient limits: the limit "can continue to decrease or even to 0").
// Three rules keep the limit on the backend:
//
//   - Config.LocalDelay (the gateway measures it with a datagram on
//     loopback, which waits for the poller as an answer does, where a
//     sleeping timer did not) is taken off every RTT before it is a sample,
//     but never below the minimum RTT measured: it is one reading at
//     release, not each answer's own delay, and in a stall of the machine
//     a 38 ms reading took 21 ms answers down to 2.7 ms, dragging the
//     minimum RTT, the baseline and the level's queue-delay target with
//     them (the limit fell to 3 slots in front of a backend answering in
//     20 ms; the bench's lowest-limit figure caught it).
//   - Little's law: answers that wait LocalDelay hold their slots that much
//     longer, so the limit in force adds best delivery rate × LocalDelay
//     slots on top of the backend's share.
//   - Cinnamon's throughput veto, in BBR's and brpc's terms: while the local
//     delay exceeds the tolerance band, a latency cut stops at the best
//     delivery rate of the last 2 s × the minimum RTT (the backend's
//     bandwidth-delay product): lowering in-flight below it lowers
//     throughput, so latency there is not the backend's queue.
//
// And the limit never sits far above what the load uses: at most twice
// the most requests a window had in flight (Gradient2's "app-limited" rule
// made a ceiling), so that a limit learned or configured high while load
// was light cannot flood the backend in a surge's first second.
//
// # Admission level: priority without a race for freed slots
//
// Requests carry a class and a user hash. Each class is split into 64 user
// levels by the top bits of the hash (WeChat DAGOR's business and user
// priorities: under overload a class is shed for some users entirely
// rather than for every user some of the time, and a resident whose code
// was shown keeps getting it). The admission level is the lowest level
// admitted; a request below it is rejected at arrival with one atomic load
// (ReasonShed), without a lock or an allocation: in overload the fast
// rejections are the lower classes', and they cost microseconds.
//
// The level moves per window (SampleWindow), like DAGOR's: a window is
// overloaded when a request the level admitted lost (in its queue, or
// shed behind a higher class's standing queue) or the mean queue
// wait of admitted requests exceeded QueueDelayTarget (about one service
// time); the level then falls until the arrivals it admits are at most
// 95% of the window's and at most 1.05× what the backend served in it
// (DAGOR's alpha, with Uber Cinnamon's idea of aiming at the measured
// throughput rather than stepping blindly). A calm window raises it by 5%
// of the admitted arrivals, at least one user level. Arrival counts per
// level are kept as a histogram, DAGOR's way of turning a target volume
// into a level. Beyond the window, strict priority is enforced at once: a
// request of class c that times out in its queue or finds it full sheds
// every lower class immediately, their waiters included, so that no lower
// class takes a slot while a higher one is losing requests (queued before
// the loss, a waiter would otherwise take the next slot nobody above it
// wanted). The top class is never shed by
// the level: its bursts queue (its losses come only from its own bounds).
// Several gateways in front of one backend share this event: Config.
// OnLoss tells the caller of each loss (and of each arrival shed in the
// class the level cuts through), and ShedBelow applies another gateway's,
// capping the level there for 100 ms (DAGOR propagates admission levels
// between services; here only the strict-priority event crosses, through
// the fleet's Redis, throttled, because it means the same on every
// gateway). SetFloor lets a fleet hold each gateway's limit near the
// others' (0.8 of their mean): found independently the limits drifted
// apart, and the gateway whose limit sank lost its share of the top
// classes. Measured with three gateways at 10x: check-ins 97.9-99.9% and
// 1-6 s of inversions in five runs, against 75-99.2% and 1-9 s without
// the floor and 8 s without the shed signal. HoldAbove is the part of
// DAGOR's shared level we take: a gateway hears the others' levels and,
// while one admits some of class c, keeps every class above c whole, so
// that its own level cuts into a class only when no gateway of the fleet
// serves a lower one. (Not the whole shared level: a gateway short of
// slots would make every other gateway shed what they could serve.)
// When nothing is in flight or queued, the level resets to admit all, so
// that a level learned in a surge cannot shed the first requests after it
// -- but not above a fleet's cap while it holds: a gateway with a few
// slots sees them all come back in one burst of a lockstep backend, and
// resetting then admitted re-issues while other gateways shed show-code
// misses. So does waiting a level window before resetting: on one
// gateway the same burst reset the level mid-surge. The window counts
// from the moment the last slot came back, recorded before the count of
// slots in flight reaches zero (recorded after it, an arrival in between
// saw nothing in flight and the idle time of an earlier lull). And the
// reset reopens class by class, as calm windows do (below): the class the
// level is in becomes whole, a lower one only if no window cut into the
// class above it within classHold. With polite clients on two shared
// cores a surging gateway went idle for a window four times in one run
// (its load generator paused), and each full reset admitted re-issues
// in seconds that shed show-code misses.
//
// A calm window raises the level into a lower class only if it shed none
// of the class the level is in: stepping by 5% of the arrivals alone, the
// level jumped past the last users of normal (whose levels had few
// arrivals) and one gateway served re-issues at ~35/s through seconds
// that shed ~1,900 show-code misses (the 60% mix: 5-6 inversion seconds
// per run, 0 since, with goodput 716/s against 638/s). Nor for classHold
// (1 s) after a window cut into that class: at a class's top the level
// otherwise alternated window by window between admitting some of the
// class below and shedding some of its own.
//
// And an overloaded window cuts no class above the highest one that lost
// in it (losing nothing, none above the class the level cuts through): a
// whole class is shed only by its own losses, which is strict priority
// read at the window. Cut by volume alone, a lockstep backend's bursty
// window counts (a 100 ms window sees four or five bursts) cut into
// check-ins while only show-code misses were losing, and the gateway then
// lost check-ins in seconds where it, or another gateway, served
// show-code misses. Simulated three uncoordinated gateways: high 99.87%
// served and 1.3% of lower-class admissions while a higher class lost,
// against 98.85% and 10%; with a fleet (HoldAbove), the end-to-end runs
// had no such second.
//
// Within a cached route the user hash is not the key's hash alone: Demand
// ranks a miss by how often its key was asked for recently (TinyLFU's
// count-min sketch with fading counters, the one Caffeine and Ristretto
// admit cache entries by), in the top three bits, the key's hash below.
// Ranked by hash alone, a level admitting a quarter of a class fetched the
// same quarter of the keys every time: the hot codes in the other three
// quarters were never cached and every request for them was shed again,
// and an expert HAProxy, admitting at random, cached more and served more
// (goodput 0.84-0.94x of it). Ranked by demand the backend's share of the
// class goes first to the fetches the cache will reuse (1.07-1.27x
// HAProxy's goodput in the same surges; TestDemandCachesMoreOfTheHotKeys:
// 1.6x the hits of hash ranking). The price: a key asked for once, a new
// code, is shed before one asked for again, and a retry counts as
// demand (per_key bounds it). Two things kept the ranks from deciding
// much, found by counting where class normal's admissions came from. The
// sketch halved after ten times its counters (TinyLFU's sample, made for
// comparing two candidates) and filled up: 83% of first-time keys ranked
// above the bottom after 300,000 misses; it now halves after an eighth
// of its counters. And 63% of the admissions took a free slot that
// nobody waited for, whatever their rank (the work-conserving path, so
// that a level a step too tight does not idle the backend): a free slot
// now goes at once only to a user within one rank of the level, and to
// the class's other users once it was left free a quarter of the minimum
// RTT and 16 of them were turned away meanwhile, or a whole minimum RTT
// (with no such wait, a level a little too tight idled slots, the
// windows after served less and cut it further: the issuer 86-90% busy).
// The count is for a fleet, whose gateways each see a third of the
// arrivals: with the time alone a free slot there went to a key further
// down the ranks, and the fleet's hit ratio was 0.94x one gateway's
// (median of fifteen runs); 0.98x with the count. The wait is for the
// lowest two classes only: a level cutting into check-ins held free
// slots from most of them (ranked by hash, they are further than a rank
// below the level), and in the three-gateway simulation
// (TestUncoordinatedBaselinesHold) lower-class admissions while a higher
// class lost went from 185 to 52 once any check-in took a free slot at
// once.
// Goodput over HAProxy's in the repeat show-code mix went from 1.12-1.22x
// to 1.29-1.41x. What is left is the price of not knowing the future: in
// that surge, simulated in 100 ms windows at the backend's pace, ranking
// by demand answers 0.93 of what fetching the most popular keys, known in
// advance, would (TestDemandNearlyMatchesForesight), and the gateway's
// show-code success in the bench (0.34-0.35) is 0.93-0.94 of the
// simulation's (0.37).
//
// A freed slot goes to the head of the highest non-empty class queue
// (CockroachDB's admission WorkQueue grants to the head of a priority
// heap), and an arrival takes a slot directly only when nobody waits at or
// above its class: no barging. Classes above the one the level cuts
// through wait their full MaxWait; the old rule that every class but the
// top one waited OverloadWait (2 ms) in a standing queue made venue
// check-ins time out between the bursts of completions of a backend whose
// workers finish in lockstep, while lower classes took the freed slots
// (13% of check-ins served). OverloadWait now applies only to the class
// the level cuts through: the class of the first user it excludes (a level
// at the top sub-level of a class admits all of it, and the class below is
// the marginal one). TestPriorityLockstepSurge and
// TestLocalDelayIsNotBackendLatency reproduce both failures in simulated
// time.
//
// Several gateways in front of one backend, without coordination, each
// run this alone. They keep its queue bounded and its workers busy, and
// the top class whole, but their limits fluctuate and can settle unequal
// (a gateway's share of a shared backend is not something its latency
// tells it), so the one with the smallest share can shed its second class
// while another admits a lower one: TestSeveralGatewaysSimulated measures
// it (three gateways: check-ins 99.9% served where one gateway serves
// 100%). Weighting cuts by the level, holding the limit while only the
// top classes are admitted, and a slower idle reset were tried and made
// it worse; DAGOR closes this gap by sharing the level, which needs the
// gateways to talk. Three rules keep an uncoordinated fleet from making
// it worse than fluctuation:
//
//   - A request shed at arrival because a higher class has a standing
//     queue is a loss of its class like any other (it sheds every lower
//     class at once and counts in the level's window). Each of three
//     gateways holds only 3-5 slots of a 10-worker backend, so its
//     critical and high queues stand often; one gateway shed show-code
//     misses that way while its level, never overloaded by its own
//     measure, admitted every class, and it served re-issues whenever the
//     queue emptied (in 16 of 19 runs, 1-8 seconds with a lower class
//     served while a higher one lost; since, 0 s in 16 of 28 runs and
//     1-4 s in twelve, each a second in which check-ins were lost at one
//     gateway whose limit had sunk to 1-4 while first-time codes were
//     served).
//   - The rebase of rule 5 needs slower fastest answers. A gateway the
//     others had pressed to its floor read their queueing as its backend
//     getting slower and took it as its baseline; it then grew into the
//     queue, pressed the others to their floors, and they did the same:
//     the baselines ratcheted from 21 to 36 ms and one gateway's limit
//     rose to 19 while another, at 1, shed check-ins (95.9% served;
//     check-ins under 99% in 2 of 19 runs, 92.97% at worst; since, 4 of
//     28, 96.21% at worst).
//     Queueing leaves some answers as fast as ever; a slower backend
//     does not (TestUncoordinatedBaselinesHold, TestRebaseNeedsSlowerAnswers).
//     A backend whose fastest answers stay fast while the rest slow down
//     is rebased after 30 windows at the floor instead of 3.
//   - A gateway that sheds or loses a class above the lowest two (within
//     the last second) tolerates more latency before it cuts: 1.4x its
//     baseline when that class is high, 1.6x when critical, against 1.2x
//     for the show-code misses and re-issues that every gateway sheds in
//     a surge. Without talking, the gateways then share the backend by
//     priority through the one thing they all see, its latency: the ones
//     shedding only the lower classes cut while the shared p90 is above
//     1.2x, and their slots go to the one losing check-ins, which keeps
//     growing up to 1.4x. This is LEDBAT's scavenger rule (a flow with a
//     lower delay target yields a bottleneck to one with a higher target)
//     made into a ranking by class. Simulated (TestUncoordinatedBaselinesHold,
//     eight seeds): check-ins 99.78% served against 99.40%, and 476
//     lower-class admissions while a higher class lost against 1,538.
//     Counting the lowest two classes as well made every gateway's
//     tolerance rise alike in a surge, which gained none of them a share
//     and let one seed's baselines ratchet to 86 ms. End to end the rule
//     is within the machine's noise: 36 interleaved runs each, check-ins
//     >= 99% in 30 with it and 29 without, 0 inversion seconds in 21 and
//     24 (most misses in runs whose load generator sent late).
//
// Baselines that differ by a few per cent between gateways remain a source
// of unfairness no rule here removes: the gateway with the highest one
// reads the shared p90 as within tolerance while the others read it as
// queueing, so it grows while they cut (Vegas's baseRTT problem). Cutting
// by at least 10% each window (AIMD's decisive decrease, so that the p90
// falls below every gateway's threshold) evened the limits in simulation
// but lost more check-ins end to end (93.9-100% in six runs, against
// 99.5-100% without it), and was left out. So was letting a gateway that
// loses a class its level admits whole grow until the p90 doubles (so
// that the starved one takes back its share): no gain in eight runs
// against eight (check-ins >= 99% in six of each, 0 inversion seconds in
// four against three), and fewer check-ins served in simulation. Nor
// did sparing small limits the probe (never halving below 4 slots),
// though in ten traced runs each loss of check-ins came within half a
// second after a probe had halved that gateway's limit to 1: without
// such probes the limits sank as far between them (check-ins under 99%
// in 3 of 10 runs, against 2 of 10).
//
// What we did not take: DAGOR's collaborative admission (upstream
// services learning a downstream's level from its answers; the gateway is
// the only admitter here), brpc's periodic drop of max_concurrency to
// re-measure no-load latency (the probe above does that for one window),
// and CockroachDB's per-tenant fair sharing within a priority (the user
// levels play that part).
//
// Admission reads the limit from an atomic: a request finding a free slot
// and no waiter of its class or above takes it with one CAS, and a
// rejection decided at once (level, queue full, higher class standing)
// takes no lock and allocates nothing. Release takes a mutex to feed the
// controller and the level: releases come at the backend's rate,
// rejections at the offered rate.
//
// # Queues
//
// Each class has a bounded queue (MaxQueue) and a MaxWait. Within a class
// the queue is FIFO while it drains and LIFO once it has not emptied for
// LIFOAfter (adaptive LIFO, as in Facebook's queueing for overload): in a
// standing queue the newest request is the one most likely to still have
// a client. While a class has a standing queue every lower class is shed
// at once (ReasonShed) instead of waiting for slots it cannot get, and
// each such shed is a loss of its class (see the admission level). A
// request that would wait longer than its budget at the current drain rate
// is rejected at once (ReasonQueueFull). A waiter whose deadline is closer
// than the minimum RTT is dropped (ReasonDeadline) before it reaches the
// backend. Waiters are pooled, each with its own reusable timer.
//
// # Per-key rate
//
// KeyRate keeps token buckets for any number of keys in a fixed table of
// 8-way sets, sharded by lock: a new key takes a free or the least recently
// seen entry of its set, starting with a full bucket. Memory is bounded by
// MaxKeys; Allow allocates nothing.
package limiter
