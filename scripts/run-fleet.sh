#!/usr/bin/env bash
# Starts a fleet on loopback: redis-server (installed by scripts/deps.sh
# redis), the simulated issuer and three gateways sharing port 8080
# (server.reuse_port) and their cache in Redis (cache.shared), admin on
# 9090, 9091 and 9092. Their config is configs/gateway.yaml with those two
# keys added (written to out/fleet.yaml). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT=6390
ISSUER_ADDR=127.0.0.1:9000
ISSUER_ADMIN=127.0.0.1:9001
mkdir -p out
awk -v redis="127.0.0.1:$REDIS_PORT" '
	{ print }
	/^  drain_timeout:/ { print "  reuse_port: true                  # the three gateways share the listen port" }
	/^  persist_every:/ { print "  shared: {redis: [\"" redis "\"]}   # the fleet shares answers and invalidations" }
' configs/gateway.yaml >out/fleet.yaml
grep -q '^  reuse_port: true' out/fleet.yaml && grep -q '^  shared:' out/fleet.yaml ||
	{ echo "run-fleet: could not add reuse_port and cache.shared to configs/gateway.yaml" >&2; exit 1; }
bin/gateway -check -config out/fleet.yaml >/dev/null

. scripts/procs.sh

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --loglevel warning &
pids+=($!)
bin/issuer-sim -listen "$ISSUER_ADDR" -admin "$ISSUER_ADMIN" -workers 20 -service-time 20ms &
pids+=($!)
for admin in 9090 9091 9092; do
	bin/gateway -config out/fleet.yaml -admin-listen "127.0.0.1:$admin" &
	pids+=($!)
done

for admin in 9090 9091 9092; do
	for _ in $(seq 50); do
		curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null && break
		sleep 0.1
	done
done

cat <<'MSG'

  3 gateways  http://127.0.0.1:8080   (admin: http://127.0.0.1:9090, :9091, :9092 /status)
  redis       127.0.0.1:6390           (the shared cache)
  issuer      http://127.0.0.1:9000   (admin: http://127.0.0.1:9001/stats)

  Each connection goes to one of the three. Try, in another terminal:
    for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%header{x-cache}\n' http://127.0.0.1:8080/v1/codes/11010519491231002X; done
    curl -s -X POST http://127.0.0.1:8080/v1/codes/11010519491231002X/reissue
    for a in 9090 9091 9092; do curl -s http://127.0.0.1:$a/metrics | grep -E 'shared_cache_(hits|invalidations_(sent|received))_total'; done
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
