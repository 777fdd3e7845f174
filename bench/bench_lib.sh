# bench_lib.sh - what the shell benchmarks share (bench_sneak.sh,
# bench_http.sh), sourced once their run directory exists.  Needs: me (the
# script's name, for messages), W (the run directory, with W/log), UTIL
# (bench_sneak_util) and PIDS (the processes to kill at exit).  Gives RES
# and NOTES (the result and note files), note, progress, fail and timed.

RES=$W/results
NOTES=$W/notes
: >"$RES"
: >"$NOTES"

note() {
	echo "$*" >>"$NOTES"
}

progress() {
	echo "$me: $*" >&2
}

fail() {
	echo "$me: FAILED: $*" >&2
	for l in "$W"/log/*.log "$W"/*/*/log; do
		case $l in */init-*) continue ;; esac
		[ -f "$l" ] || continue
		[ -s "$l" ] || continue
		echo "--- last lines of $l" >&2
		tail -n 15 "$l" >&2
	done
	exit 1
}

# timed NAME COMMAND [ARG...]: run it, with stdout and stderr in
# $W/log/NAME.log; T_SECS (wall), T_RSS (peak RSS, KiB, of the command
# and its descendants).  A failure stops the run.  Untimed first: sync,
# so that what earlier steps left in the page cache for the disk (the
# source file, a step that does not fsync) is written back before, not
# during, this step: the first steps (ferry's, in bench_sneak) paid for
# it, and the raw cp row at the start ran at half the speed of the one
# at the end.
timed() {
	tm_name=$1
	shift
	sync
	# WARM_MIB (bench_sneak.sh): the memory the step's page cache will
	# take, touched first (bench_warm_memory in bench_util.c).
	if [ "${WARM_MIB:-0}" -gt 0 ]; then
		"$UTIL" warm "$WARM_MIB" || fail "warm $WARM_MIB"
	fi
	"$UTIL" run "$W/.timing" "$@" >"$W/log/$tm_name.log" 2>&1 &
	tm_pid=$!
	PIDS="$PIDS $tm_pid"
	wait $tm_pid
	tm_rc=$?
	[ $tm_rc = 0 ] || fail "$tm_name: '$*' exited with status $tm_rc"
	read -r T_SECS T_RSS tm_x <"$W/.timing" || fail "$tm_name: no timing"
}
