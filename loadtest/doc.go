// Package loadtest is the project's open-loop load generator: it runs a
// scenario (configs/scenarios/*.yaml) against an HTTP target and reports
// what a surge does to it.
//
// A scenario has phases of arrival rates (constant, linear ramp, step), a
// weighted mix of request templates with a class label and a key generator
// each (zipf, uniform or sequential over a population, rendered as numbers
// or as valid 18-character resident IDs), a mix of client behaviours
// (patient, impatient, polite), optional timed fault actions and
// thresholds. See Scenario for the file format.
//
// Arrivals are open loop: every logical request has a scheduled send time
// computed from the phase rates, and is handed to a bounded worker pool at
// that time whether or not earlier requests were answered. Its latency is
// measured from the scheduled time, so a server that stalls cannot hide the
// requests that would have arrived during the stall (no coordinated
// omission). A send that finds the in-flight cap reached is counted as
// dropped, never skipped silently; a send more than LateThreshold behind
// its schedule is counted as late. Retries of impatient and polite clients
// are further tries of the same logical request, scheduled by a timer when
// they wait (a waiting retry holds no slot); its latency still runs from
// the original scheduled time.
//
// Latencies go into HDR histograms (hdrhistogram-go), one set per recording
// shard, merged for the report. The Report follows the contract of
// DESIGN.md and is written as JSON (WriteJSON) or as a self-contained HTML
// page with inline SVG charts (WriteHTML). A progress line (Progress) and a
// self-check that warns when the generator itself is the bottleneck run
// while the scenario runs.
//
// The package treats the target as a black box over HTTP: it must never
// import the gateway. It uses shedgate/residentid only to make valid
// resident IDs.
package loadtest
