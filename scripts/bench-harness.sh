#!/usr/bin/env bash
# bench-harness.sh (the harness part of make bench): how fast the load
# harness itself can send. It starts a bare fasthttp server
# (bin/loadtest -serve-bare), runs a constant-rate scenario against it
# RUNS times and prints, for each run and as the median, the achieved
# rate against the target, the send lag and the CPU used.
#
# The criterion (issue 3): at least 40,000 requests/s achieved, within 1%
# of the target, on the project's 2-core machine, the server sharing those
# cores. The criterion runs use HTTP/1.1 pipelining (-pipeline 64 on 4
# connections): one request per connection at a time, as phones send
# them, costs the harness and the server a write, a read and a wakeup each
# per request, and on this 2-core VM tops out near half the criterion. One
# run without pipelining follows, for the record (MODE_ONE=0 skips it).
#
# The figure is only as good as the machine is quiet: the script prints
# the load average and the busiest other processes first and last, so a
# reader can tell.
#
# Environment: RATE (default 45000), DURATION (default 10s), RUNS
# (default 3), PIPELINE (default 64), CONNECTIONS (default 4),
# MAX_INFLIGHT (default 10000), MODE_ONE (default 1).
# Exit status: 0 when the median run meets the criterion, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
RATE=${RATE:-45000}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
MAX_INFLIGHT=${MAX_INFLIGHT:-10000}
PIPELINE=${PIPELINE:-64}
CONNECTIONS=${CONNECTIONS:-4}
MODE_ONE=${MODE_ONE:-1}
OUT=out/bench-harness
mkdir -p "$OUT"
tmp=$(mktemp -d)
server=

cleanup() {
	trap - INT TERM EXIT
	[ -z "$server" ] || { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# machine prints the load average and the busiest processes.
machine() {
	echo "machine ($1): $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	ps -eo pcpu=,comm= --sort=-pcpu | head -n 4 | awk '$1 > 1 {printf "    %5.1f%% %s\n", $1, $2}'
}

"$GO" build -o bin/ ./cmd/loadtest
bin/loadtest -serve-bare 127.0.0.1:0 >"$tmp/server.out" 2>"$OUT/server.log" &
server=$!
for _ in $(seq 50); do
	read -r _ _ _ addr <"$tmp/server.out" 2>/dev/null && [ -n "${addr:-}" ] && break
	sleep 0.1
done
[ -n "${addr:-}" ] || { echo "bench-harness: the bare server did not start" >&2; exit 1; }

cat >"$tmp/bench.yaml" <<EOF
name: bench-harness
description: constant $RATE requests/s for $DURATION against a bare fasthttp server
target: http://$addr
timeout: 2s
phases: [{kind: constant, rate: $RATE, duration: $DURATION}]
requests: [{class: bare, path: /}]
thresholds: ["run.achieved_ratio >= 0.99", "run.achieved_rps >= 40000"]
EOF

machine before
# summary FILE LABEL: one line of a run's figures.
summary() {
	jq -r --arg l "$2" '"  \($l): achieved \(.achieved_rps | floor) of \(.offered_rps | floor) req/s (\(10000 * .achieved_rps / .offered_rps | floor / 100)%), answered ok \(.all.goodput_rps | floor)/s, "
		+ "dropped \(.dropped), late \(.late_sends), send lag p99 \(.generator.send_lag_ms.p99) ms, "
		+ "latency p50 \(.all.latency_ms.p50) p99 \(.all.latency_ms.p99) ms, harness CPU \(.generator.cpu_avg_pct | floor)% of one core, "
		+ "machine busy max \(.generator.machine_busy_max_pct | floor)%"' "$1"
}
echo "bench-harness: $RUNS runs of $RATE req/s for $DURATION against $addr (bin/loadtest -serve-bare), -pipeline $PIPELINE on $CONNECTIONS connections"
for i in $(seq "$RUNS"); do
	bin/loadtest -quiet -max-inflight "$MAX_INFLIGHT" -pipeline "$PIPELINE" -connections "$CONNECTIONS" \
		-report "$OUT/run$i.json" "$tmp/bench.yaml" 2>"$OUT/run$i.log" || true
	summary "$OUT/run$i.json" "run $i"
done
if [ "$MODE_ONE" = 1 ]; then
	echo "bench-harness: for the record, one run without pipelining (one request per connection at a time):"
	bin/loadtest -quiet -max-inflight "$MAX_INFLIGHT" -report "$OUT/one-per-conn.json" "$tmp/bench.yaml" 2>"$OUT/one-per-conn.log" || true
	summary "$OUT/one-per-conn.json" "no pipelining"
fi
machine after

median=$(for i in $(seq "$RUNS"); do jq -r '.achieved_rps' "$OUT/run$i.json"; done | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
ratio=$(awk -v a="$median" -v t="$RATE" 'BEGIN {printf "%.4f", a / t}')
echo "bench-harness: median achieved $(printf '%.0f' "$median") req/s of $RATE target (ratio $ratio); reports in $OUT/"
if awk -v a="$median" -v r="$ratio" 'BEGIN {exit !(a >= 40000 && r >= 0.99)}'; then
	echo "bench-harness: PASS (>= 40,000 req/s within 1% of target)"
else
	echo "bench-harness: FAIL (want >= 40,000 req/s within 1% of target)"
	exit 1
fi
