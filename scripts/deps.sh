#!/usr/bin/env bash
# deps.sh: installs the tools some checks need, from Debian's packages, only
# when they are missing (run as root).
#
#   scripts/deps.sh chromium   # headless Chromium, to render the HTML load-test reports
#   scripts/deps.sh haproxy    # HAProxy, the peer make bench measures admission and cache hits against
#   scripts/deps.sh nginx      # nginx, whose proxy_cache make bench measures cache hits against
#   scripts/deps.sh wrk        # wrk, the generator of the per-core cache-hit benchmark
#   scripts/deps.sh redis      # redis-server, the fleet's shared cache (tests start their own)
#   scripts/deps.sh prometheus # prometheus and promtool: the scrape test, the metrics lint, the alert rules' tests
#   scripts/deps.sh podman     # podman, to build the container image (make image, deploy/'s test)
#
# Then, for example:
#   chromium --headless --no-sandbox --disable-gpu --screenshot=out/report.png \
#     --window-size=1400,1800 file://$PWD/out/rehearsal/gateway.html
set -euo pipefail

need_apt() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: $1 is missing; run as root to install it (apt-get install -y $1)" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"
}

[ $# -gt 0 ] || { echo "usage: scripts/deps.sh chromium|haproxy|nginx|wrk|redis|prometheus|podman..." >&2; exit 2; }
for dep in "$@"; do
	case $dep in
	chromium)
		[ -x /usr/bin/chromium ] || need_apt chromium
		/usr/bin/chromium --version
		;;
	haproxy)
		command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt haproxy
		/usr/sbin/haproxy -v | head -1
		;;
	nginx)
		command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt nginx-light
		/usr/sbin/nginx -v
		;;
	wrk)
		command -v wrk >/dev/null || need_apt wrk
		wrk --version 2>&1 | head -1 || true
		;;
	redis)
		command -v redis-server >/dev/null || need_apt redis-server
		redis-server --version
		;;
	prometheus)
		# Debian's package would start a prometheus service on :9090, the
		# gateway's admin port in make run: policy-rc.d keeps it stopped.
		if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
			if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
				printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
				chmod +x /usr/sbin/policy-rc.d
				trap 'rm -f /usr/sbin/policy-rc.d' EXIT
			fi
			need_apt prometheus
		fi
		promtool --version 2>&1 | head -1
		;;
	podman)
		command -v podman >/dev/null || need_apt podman
		podman --version
		;;
	*)
		echo "deps: unknown dependency $dep (have: chromium, haproxy, nginx, wrk, redis, prometheus, podman)" >&2
		exit 2
		;;
	esac
done
