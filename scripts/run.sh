#!/usr/bin/env bash
# Starts the simulated issuer and the gateway (configs/gateway.yaml) on
# loopback and prints curl examples. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

ISSUER_ADDR=127.0.0.1:9000
ISSUER_ADMIN=127.0.0.1:9001
. scripts/procs.sh

bin/issuer-sim -listen "$ISSUER_ADDR" -admin "$ISSUER_ADMIN" -workers 20 -service-time 20ms &
pids+=($!)
bin/gateway -config configs/gateway.yaml &
pids+=($!)

for _ in $(seq 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9090/readyz 2>/dev/null && break
	sleep 0.1
done

cat <<'MSG'

  gateway  http://127.0.0.1:8080   (admin: http://127.0.0.1:9090/status, /metrics)
  issuer   http://127.0.0.1:9000   (admin: http://127.0.0.1:9001/stats, POST /faults)

  Try, in another terminal:
    curl -i http://127.0.0.1:8080/v1/codes/11010519491231002X          # issue or show a code
    curl -i -X POST http://127.0.0.1:8080/v1/codes/11010519491231002X/reissue
    curl -s http://127.0.0.1:9090/status
  Ctrl-C stops both.

MSG
wait -n "${pids[@]}"
