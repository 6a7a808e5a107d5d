# procs.sh, sourced by run.sh and run-fleet.sh: the processes a script
# starts go into pids; on Ctrl-C, TERM or exit each gets SIGTERM (a
# gateway drains) and the script waits for them.
pids=()
stop() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT
