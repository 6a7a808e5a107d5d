// Package issuer is a simulated code-issuance backend: the system the gateway
// protects, rebuilt small enough to run in tests and rehearsals.
//
// It implements the domain of DOMAIN.md over HTTP (fasthttp): personal codes
// valid 30 days and signed with Ed25519, re-issue at most once a day, codes
// for relatives by age, test-site scans that register samples, health status
// and venue check-ins. Resident IDs are validated (length, birth date, ISO
// 7064 MOD 11-2 check digit).
//
// Its point is its capacity model: every request waits in an unbounded FIFO
// queue for one of Workers workers, and the service time grows with the
// queue, so that under sustained overload it collapses the way the real one
// did, still doing work for clients that gave up long ago. Faults (error
// rate, added latency, hang, outage) and the worker count can be changed
// while it runs, through its admin listener, which also
// reports its counters as JSON.
//
// It must not be imported by the gateway: the gateway treats it as any
// backend, over the network. It keeps all state in memory and logs nothing
// per request; resident IDs never appear in error messages.
package issuer
