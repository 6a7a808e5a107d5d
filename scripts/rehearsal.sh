#!/usr/bin/env bash
# rehearsal.sh (make rehearsal): replays the launch-day surge
# (configs/scenarios/launch-day.yaml) against the simulated issuer
# directly, then against a fresh issuer through the gateway, and prints the
# two runs side by side with the paths of their HTML reports.
#
# The issuer is the rehearsal's capacity model: 20 workers x 20 ms = 1,000
# requests/s. Everything listens on free loopback ports; the gateway runs
# with a temporary copy of configs/gateway.yaml pointed at the issuer.
# Reports, logs and the issuer's own counters go to out/rehearsal/.
# Everything started here is stopped on exit (also on Ctrl-C).
#
# Environment: SCENARIO (default configs/scenarios/launch-day.yaml),
# MAX_INFLIGHT (default 15000: the harness's in-flight cap; each request
# in flight holds a connection, and the machine allows 20,000 files).
# Exit status: 0 when both runs completed (their thresholds decide nothing
# here: the direct run is expected to fail them), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SCENARIO=${SCENARIO:-configs/scenarios/launch-day.yaml}
MAX_INFLIGHT=${MAX_INFLIGHT:-15000}
OUT=out/rehearsal
mkdir -p "$OUT"
tmp=$(mktemp -d)
pids=()

stop_all() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: starts CMD in the background with its stdout in
# $tmp/NAME.out and stderr in $OUT/NAME.log, waits for its "listening on
# ADDR admin ADDR" line and sets PID, ADDR and ADMIN.
start() {
	local name=$1
	shift
	ADDR='' ADMIN=''
	: >"$tmp/$name.out"
	"$@" >"$tmp/$name.out" 2>"$OUT/$name.log" &
	PID=$!
	pids+=("$PID")
	for _ in $(seq 100); do
		if read -r _ _ _ ADDR _ ADMIN <"$tmp/$name.out" 2>/dev/null && [ -n "${ADMIN:-}" ]; then
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "rehearsal: $name did not start; its log ($OUT/$name.log):" >&2
	tail -n 20 "$OUT/$name.log" >&2
	exit 1
}

# stop PID: stops one process started here.
stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# issuer_stats FILE: saves the issuer's counters, or notes that it died.
issuer_stats() {
	if kill -0 "$ISSUER_PID" 2>/dev/null; then
		curl -fsS "http://$ISSUER_ADMIN/stats" >"$1" 2>/dev/null || echo '{}' >"$1"
	else
		echo '{"exited": true}' >"$1"
		echo "rehearsal: the issuer exited during the run; its last words ($OUT/$ISSUER_NAME.log):"
		tail -n 3 "$OUT/$ISSUER_NAME.log" | sed 's/^/    /'
	fi
}

# start_issuer NAME: starts a fresh issuer, logging to $OUT/NAME.log.
start_issuer() {
	ISSUER_NAME=$1
	start "$1" bin/issuer-sim -listen 127.0.0.1:0 -admin 127.0.0.1:0 -workers 20 -service-time 20ms
	ISSUER_PID=$PID ISSUER=$ADDR ISSUER_ADMIN=$ADMIN
}

echo "rehearsal: building"
"$GO" build -o bin/ ./cmd/...
began=$(date +%s)

# leg NAME TARGET: one run of the scenario against TARGET, its reports and
# the issuer's counters under $OUT/NAME*; exit 1 (with its output) unless
# the harness ran (exit 0: thresholds met, 99: not met).
leg() {
	local rc=0
	bin/loadtest -target "http://$2" -issuer-admin "$ISSUER_ADMIN" -max-inflight "$MAX_INFLIGHT" \
		-report "$OUT/$1.json" -html "$OUT/$1.html" "$SCENARIO" >"$OUT/$1.txt" 2>"$OUT/loadtest-$1.log" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 99 ] || { cat "$OUT/$1.txt" "$OUT/loadtest-$1.log"; exit 1; }
	issuer_stats "$OUT/$1-issuer-stats.json"
}

start_issuer issuer-direct
echo "rehearsal: 1/2 $SCENARIO directly against the issuer at $ISSUER (20 workers x 20 ms)"
leg direct "$ISSUER"
stop "$ISSUER_PID"

start_issuer issuer-gateway
sed -E "s/127\.0\.0\.1:9000/$ISSUER/g" configs/gateway.yaml >"$tmp/gateway.yaml"
grep -q "$ISSUER" "$tmp/gateway.yaml" || { echo "rehearsal: configs/gateway.yaml names no 127.0.0.1:9000 target to replace" >&2; exit 1; }
start gateway bin/gateway -config "$tmp/gateway.yaml" -listen 127.0.0.1:0 -admin-listen 127.0.0.1:0
GATEWAY=$ADDR GATEWAY_ADMIN=$ADMIN
for _ in $(seq 50); do
	curl -fsS -o /dev/null "http://$ADMIN/readyz" 2>/dev/null && break
	sleep 0.1
done
echo "rehearsal: 2/2 $SCENARIO through the gateway at $GATEWAY, in front of a fresh issuer at $ISSUER"
leg gateway "$GATEWAY"
curl -fsS "http://$GATEWAY_ADMIN/status" >"$OUT/gateway-status.json" 2>/dev/null || true

echo
bin/loadtest -compare "$OUT/direct.json,$OUT/gateway.json" -labels "direct,via gateway" | tee "$OUT/compare.txt"
for run in direct gateway; do
	jq -r --arg run "$run" '"issuer (" + $run + " run): " + (if .exited then "exited during the run"
		else "served \(.served) of \(.received) received, \(.duplicates) duplicates, max in flight \(.max_in_flight)" end)' \
		"$OUT/$run-issuer-stats.json" 2>/dev/null || true
	jq -r --arg run "$run" '.generator.warnings[]? | "generator (" + $run + " run): " + .' "$OUT/$run.json" 2>/dev/null || true
done
echo
echo "HTML reports:"
echo "  direct       $PWD/$OUT/direct.html"
echo "  via gateway  $PWD/$OUT/gateway.html"
echo "summaries: $OUT/direct.txt $OUT/gateway.txt; logs: $OUT/*.log ($(($(date +%s) - began)) s from the first start)"
