#!/usr/bin/env bash
# bench.sh (make bench): the Go micro-benchmarks, then the end-to-end
# benchmarks that run the real gateway, issuer-sim and load harness on
# loopback and print each figure against its target (lines "FIGURE ...").
# Takes about 30 minutes; everything it starts stops by itself.
#
#   scripts/bench.sh            # all
#   scripts/bench.sh micro      # only the Go benchmarks (seconds)
#   scripts/bench.sh e2e [REGEX]  # only the end-to-end ones (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
what=${1:-all}
mkdir -p out/bench

if [ "$what" = all ] || [ "$what" = micro ]; then
	echo "== Go benchmarks (allocations per op must be 0 on the hot paths)"
	go test -run '^$' -bench . -benchmem -benchtime 200000x ./gateway ./limiter ./cache ./flight ./upstream 2>&1 |
		grep -E '^(Benchmark|ok|FAIL)' | tee out/bench/micro.txt
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	# The TestBench ones, and the tests whose timing targets are figures
	# here (in make test they only refuse what a busy machine can't explain).
	pattern=${2:-'TestBench|TestFleetSurge|TestOutageServesStaleAndFailsFast|TestTargetKilledAndBack|TestTargetHangsThenFails|TestBothTargetsDown'}
	# HAProxy is the peer the admission benchmarks compare with; HAProxy's
	# and nginx's caches the per-core cache-hit benchmark, driven by wrk.
	scripts/deps.sh haproxy nginx wrk redis
	echo "== End-to-end benchmarks ($pattern): figures against targets"
	SHEDGATE_BENCH=1 go test -count=1 -timeout 40m -run "$pattern" -v ./gateway 2>&1 |
		tee out/bench/e2e.log | grep -E '^(FIGURE|--- |ok|FAIL)|loadtest: offered'
fi
if [ -x scripts/bench-harness.sh ] && { [ "$what" = all ] || [ "$what" = harness ]; }; then
	echo "== Load harness throughput against a bare fasthttp server"
	scripts/bench-harness.sh
fi
