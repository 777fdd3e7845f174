#!/bin/sh
# bench_http.sh - messages from a field node to its base over the HTTP
# transport, next to the same over TCP and next to curl uploading the
# same bytes to the same server, in one run (issue 13).  See
# bench/README.md, "bench_http".
#
#   bench/bench_http.sh [PARENT]        (make bench-http)
#
# PARENT (default $TMPDIR, else /tmp) gets a private mktemp -d directory
# for the nodes and the source file.  Everything the script made is
# removed at exit, also on failure or a signal (BENCH_KEEP=1 keeps the
# directory after a failure), after every agent it started is killed.
#
# Environment:
#   top_builddir          the build tree (default .): agent/ferryd,
#                         cli/ferry, bench/bench_sneak_util,
#                         bench/bench_http_sign
#   BENCH_QUICK=1         128 MiB and 2,000 messages
#   BENCH_HTTP_BIG_MIB=N  the big message, MiB (default 1024)
#   BENCH_HTTP_MSGS=N     small messages of 1 KiB (default 10000)
#   BENCH_HTTP_PERF=DIR   start both ferryd of the big HTTP row under
#                         `perf record -g`, data into DIR (which must
#                         exist); that row's figures are then perturbed
#
# Exit status: 0 when every step worked (whatever the numbers), 1 when a
# step failed (its log is shown), 2 on a usage error.  The aims (HTTP at
# least x0.7 of TCP for the big message, x0.5 for small ones) are
# printed, never enforced.

set -u
LC_ALL=C
export LC_ALL

me=bench_http
top_builddir=${top_builddir:-.}
FERRYD=$top_builddir/agent/ferryd
FERRY=$top_builddir/cli/ferry
UTIL=$top_builddir/bench/bench_sneak_util
SIGN=$top_builddir/bench/bench_http_sign

case ${BENCH_QUICK:-0} in
'' | 0 | no | false) quick=0 ;;
*) quick=1 ;;
esac
if [ $quick = 1 ]; then
	big_mib=${BENCH_HTTP_BIG_MIB:-128}
	msgs=${BENCH_HTTP_MSGS:-2000}
else
	big_mib=${BENCH_HTTP_BIG_MIB:-1024}
	msgs=${BENCH_HTTP_MSGS:-10000}
fi
msg_bytes=1024
threads=16
big_bytes=$((big_mib * 1048576))
perf_dir=${BENCH_HTTP_PERF:-}

if [ $# -gt 1 ]; then
	echo "usage: $0 [PARENT]" >&2
	exit 2
fi
parent=${1:-${TMPDIR:-/tmp}}

for b in "$FERRYD" "$FERRY" "$UTIL" "$SIGN"; do
	if [ ! -x "$b" ]; then
		echo "$me: $b is not built (make bench-http, or set top_builddir)" >&2
		exit 2
	fi
done
if [ -n "$perf_dir" ]; then
	if [ ! -d "$perf_dir" ] || ! command -v perf >/dev/null 2>&1; then
		echo "$me: BENCH_HTTP_PERF needs an existing directory and perf in PATH" >&2
		exit 2
	fi
	perf_dir=$(cd "$perf_dir" && pwd -P)
fi

W=
SOCKDIR=
PIDS=
ok=0

cleanup() {
	rc=$?
	trap - EXIT HUP INT TERM
	for p in $PIDS; do
		# Only our own processes: a recycled pid is left alone.
		if [ -r "/proc/$p/cmdline" ] &&
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null |
			grep -q "$W"; then
			kill -9 "$p" 2>/dev/null
		fi
	done
	wait 2>/dev/null
	if [ $ok = 0 ] && [ -n "${BENCH_KEEP:-}" ] && [ -n "$W" ]; then
		echo "$me: kept $W" >&2
	else
		[ -n "$W" ] && rm -rf "$W"
	fi
	[ -n "$SOCKDIR" ] && rm -rf "$SOCKDIR"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

W=$(mktemp -d "$parent/bench-http.XXXXXX") || exit 1
W=$(cd "$W" && pwd -P)
mkdir "$W/log"
# The run's results, notes, failure report and stopwatch (bench_lib.sh).
. "$(dirname "$0")/bench_lib.sh"

# Peak RSS (VmHWM, KiB) of PID since it started; CPU seconds (user +
# system) it used since it started.
hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
		awk -v t="$clk_tck" '{ printf "%.2f", ($12 + $13) / t }'
}

# row WORKLOAD SYSTEM LABEL N BYTES SECS CPU_F CPU_B RSS_F RSS_B
# SYSTEM pairs rows for the ratios: tcp, http, curl; dd (the disk).
row() {
	printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$RES"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

json_num() { # KEY: the first "KEY":NUMBER of the JSON on stdin
	tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1
}
json_str() { # KEY: the first "KEY":"STRING" of the JSON on stdin
	tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\"\(.*\)\"\$/\1/p" | head -n 1
}

# ------------------------------------------------------------ nodes

ready() {
	rd_i=0
	while [ $rd_i -lt 150 ]; do
		kill -0 "$2" 2>/dev/null || return 1
		"$FERRY" --socket "$1" info >/dev/null 2>&1 && return 0
		sleep 0.1
		rd_i=$((rd_i + 1))
	done
	return 1
}

# make_nodes DIR: fresh base and field under DIR (ferry init, every
# setting at its default), each with a [peer] section for the other
# holding its card and no address yet, so that what field queues for
# base waits, exported nowhere.  field's section is the last in its
# file: the transport's address is appended to it later.  Sets SB SF
# (sockets), FPR_B (base's fingerprint).
make_nodes() {
	mn_d=$1
	mkdir -p "$mn_d"
	for mn_n in base field; do
		"$FERRY" init --dir "$mn_d/$mn_n" --name $mn_n >"$W/log/init-$mn_n.log" 2>&1 ||
			fail "ferry init $mn_n"
		mn_s=$mn_d/$mn_n/ferry.sock
		if [ ${#mn_s} -gt 100 ]; then
			[ -n "$SOCKDIR" ] || SOCKDIR=$(mktemp -d /tmp/bhttp.XXXXXX) ||
				fail mktemp
			mn_s=$SOCKDIR/$mn_n.sock
			printf '[node]\nsocket = %s\n' "$mn_s" >>"$mn_d/$mn_n/ferry.conf"
		fi
		echo "$mn_s" >"$mn_d/$mn_n/.sock"
	done
	"$FERRY" keygen --dir "$mn_d/base" --json >"$mn_d/base.json" || fail "keygen base"
	"$FERRY" keygen --dir "$mn_d/field" --json >"$mn_d/field.json" || fail "keygen field"
	mn_cb=$(json_str card <"$mn_d/base.json")
	mn_cf=$(json_str card <"$mn_d/field.json")
	FPR_B=$(json_str fingerprint <"$mn_d/base.json")
	[ -n "$mn_cb" ] && [ -n "$mn_cf" ] && [ -n "$FPR_B" ] ||
		fail "no card or fingerprint from ferry keygen"
	printf '[peer field]\nkey = %s\n' "$mn_cf" >>"$mn_d/base/ferry.conf"
	# A down base is retried every 10 to 50 ms, with no jitter, over
	# either transport: the first attempt after base is up comes at once.
	printf '[peer base]\nkey = %s\nretry_min = 10ms\nretry_max = 50ms\nretry_jitter = 0\n' \
		"$mn_cb" >>"$mn_d/field/ferry.conf"
	SB=$(cat "$mn_d/base/.sock")
	SF=$(cat "$mn_d/field/.sock")
}

# start_agent DIR NAME [PERF]: sets AGENT_PID (not waited for).  With
# PERF (a file), the agent runs under `perf record -g -o PERF`, so that
# every thread it starts is recorded; AGENT_PID is still ferryd's.
start_agent() {
	if [ $# -gt 2 ]; then
		perf record -g -q -o "$3" -- "$FERRYD" -c "$1/$2/ferry.conf" \
			>>"$1/$2/log" 2>&1 &
		sa_perf=$!
		PIDS="$PIDS $sa_perf"
		AGENT_PID=
		sa_i=0
		while [ -z "$AGENT_PID" ] && [ $sa_i -lt 200 ]; do
			AGENT_PID=$(cat /proc/$sa_perf/task/*/children 2>/dev/null | tr -s ' ' '\n' | head -n 1)
			[ -n "$AGENT_PID" ] || sleep 0.01
			sa_i=$((sa_i + 1))
		done
		[ -n "$AGENT_PID" ] || fail "perf did not start ferryd"
		PERF_PIDS="$PERF_PIDS $sa_perf"
		PERF_AGENTS="$PERF_AGENTS $AGENT_PID"
	else
		"$FERRYD" -c "$1/$2/ferry.conf" >>"$1/$2/log" 2>&1 &
		AGENT_PID=$!
	fi
	PIDS="$PIDS $AGENT_PID"
}

stop_agents() {
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "$@"; do
		sa_i=0
		while kill -0 "$p" 2>/dev/null && [ $sa_i -lt 300 ]; do
			sleep 0.05
			sa_i=$((sa_i + 1))
		done
		kill -0 "$p" 2>/dev/null && fail "ferryd $p still running 15 s after SIGTERM"
		# perf's child, not ours: perf_wait reaps perf.
		case " $PERF_AGENTS " in *" $p "*) continue ;; esac
		wait "$p"
		sa_rc=$?
		[ $sa_rc = 0 ] || fail "ferryd $p exited with status $sa_rc after SIGTERM"
	done
}

# The perf recorders of the agents started under perf: they end with
# their agent (stop_agents), wait for them to write their data.
PERF_PIDS=
PERF_AGENTS=
perf_wait() {
	for p in $PERF_PIDS; do
		wait "$p" || note "perf record exited with status $? (see the agent's log)"
	done
	PERF_PIDS=
	PERF_AGENTS=
}

# run_row WL TRANSPORT N BYTES: fresh nodes; field alone queues the
# messages for base (no address for it yet: they wait) and stops; then
# field's [peer base] gets `tcp =` or `http =` only, and the clock
# starts as base's and field's agents are started; it stops when base's
# queue q holds all N.
run_row() {
	wl=$1
	tr=$2
	n=$3
	bytes=$4
	d=$W/$wl-$tr
	progress "$wl over $tr: nodes"
	make_nodes "$d"
	port=$(free_port) || fail "no free port"
	if [ "$tr" = tcp ]; then
		printf '[node]\nlisten = 127.0.0.1:%s\n' "$port" >>"$d/base/ferry.conf"
	else
		printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$port" >>"$d/base/ferry.conf"
	fi

	progress "$wl over $tr: queueing $n message(s) on field, base down (untimed)"
	start_agent "$d" field
	ready "$SF" $AGENT_PID || fail "field's ferryd did not answer within 15 s"
	if [ "$wl" = big ]; then
		timed "$wl-$tr-queue" "$FERRY" --socket "$SF" send base/q "$src"
	else
		timed "$wl-$tr-queue" "$UTIL" send "$SF" base/q "$n" $msg_bytes $threads
	fi
	note "$wl over $tr: queueing on field took $T_SECS s (not in the row)"
	out=$("$FERRY" --socket "$SF" info --json | json_num outbound_messages)
	[ "$out" = "$n" ] || fail "$wl over $tr: field holds ${out:-?} outbound message(s), $n were sent"
	stop_agents $AGENT_PID

	if [ "$tr" = tcp ]; then
		printf 'tcp = 127.0.0.1:%s\n' "$port" >>"$d/field/ferry.conf"
	else
		printf 'http = http://127.0.0.1:%s/ferry\npoll = 20s\n' "$port" >>"$d/field/ferry.conf"
	fi

	progress "$wl over $tr: base and field up, timing until base holds $n"
	sync
	t0=$(date +%s.%N)
	if [ -n "$perf_dir" ] && [ "$wl" = big ] && [ "$tr" = http ]; then
		start_agent "$d" base "$perf_dir/base.perf.data"
		PB=$AGENT_PID
		start_agent "$d" field "$perf_dir/field.perf.data"
		PF=$AGENT_PID
	else
		start_agent "$d" base
		PB=$AGENT_PID
		start_agent "$d" field
		PF=$AGENT_PID
	fi
	if [ "$wl" = big ]; then wt=1800; else wt=600; fi
	# In the background: a signal to the script then ends it at once
	# (a foreground command would defer the trap until it exits).
	"$UTIL" wait "$SB" q "$n" $wt >"$W/.wait" 2>"$W/log/$wl-$tr-wait.log" &
	w_pid=$!
	PIDS="$PIDS $w_pid"
	wait $w_pid || fail "$wl over $tr: $(cat "$W/log/$wl-$tr-wait.log")"
	c_f=$(cpu $PF)
	c_b=$(cpu $PB)
	r_f=$(hwm $PF)
	r_b=$(hwm $PB)
	read -r w_ready w_done w_msgs w_bytes <"$W/.wait" || fail "no timing from the wait"
	secs=$(awk -v a="$t0" -v b="$w_done" 'BEGIN { printf "%.3f", b - a }')
	row $wl $tr "$tr" "$n" "$bytes" "$secs" "$c_f" "$c_b" "$r_f" "$r_b"
	note "$wl over $tr: base's socket answered $(awk -v a="$t0" -v b="$w_ready" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms after the start; from then $(awk -v a="$w_ready" -v b="$w_done" -v n="$n" -v z="$bytes" 'BEGIN { s = b - a; printf "%.3f s (%.1f MB/s", s, z / s / 1e6; if (n > 1) printf ", %.0f msgs/s", n / s; printf ")" }')"
	[ "$w_bytes" = "$bytes" ] ||
		fail "$wl over $tr: base's queue q holds $w_bytes bytes, $bytes were sent"
	via=$("$FERRY" --socket "$SF" peers --json | json_str via)
	[ "$via" = "$tr" ] || note "$wl over $tr: field's peers says via '${via}', not $tr"
	stop_agents $PF $PB
	perf_wait
	rm -rf "$d"
}

# curl_row: fresh nodes; base serves HTTP, field's agent never runs (only
# its key signs).  curl PUTs the source file as one upload, as field's
# ferryd would, with X-Ferry-Offset 0 and X-Ferry-Size; the server
# streams it into its part file and fdatasyncs before it answers.  Its
# import then refuses the bytes (they are no bundle): not timed.
curl_row() {
	d=$W/big-curl
	progress "big by curl: nodes"
	make_nodes "$d"
	port=$(free_port) || fail "no free port"
	printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$port" >>"$d/base/ferry.conf"
	start_agent "$d" base
	PB=$AGENT_PID
	ready "$SB" $PB || fail "base's ferryd did not answer within 15 s"
	name=bench0000000000000000000000000001.bundle
	auth=$("$SIGN" "$d/field" "$FPR_B" $name "$big_bytes") ||
		fail "bench_http_sign"
	progress "big by curl: PUT of $big_mib MiB"
	sync
	c0=$(cpu $PB)
	timed big-curl curl -sS -o "$W/log/curl-body" -w '%{http_code}\n' \
		-T "$src" -H "Authorization: $auth" -H "X-Ferry-Offset: 0" \
		-H "X-Ferry-Size: $big_bytes" -H "Expect:" \
		"http://127.0.0.1:$port/ferry/v1/out/$name"
	c_b=$(awk -v a="$c0" -v b="$(cpu $PB)" 'BEGIN { printf "%.2f", b - a }')
	code=$(tail -n 1 "$W/log/big-curl.log")
	[ "$code" = 200 ] ||
		fail "curl's PUT: HTTP ${code:-?} ($(head -c 200 "$W/log/curl-body"))"
	row big curl "curl PUT, raw reference" 1 "$big_bytes" "$T_SECS" - "$c_b" \
		"$T_RSS" "$(hwm $PB)"
	note "curl: the server answered '$(head -n 1 "$W/log/curl-body")'; its import then refuses the bytes (not timed)"
	stop_agents $PB
	rm -rf "$d"
}

# dd_row WHEN: the source file (in the page cache) written to a new file
# in 1 MiB blocks and fdatasync'd: the disk's sequential rate.
dd_row() {
	progress "dd ($1)"
	timed "dd-$1" dd if="$src" of="$W/dd.bin" bs=1M conv=fdatasync
	row disk dd "dd, 1 MiB blocks + fdatasync ($1)" 1 "$big_bytes" "$T_SECS" - - - -
	rm -f "$W/dd.bin"
}

# ------------------------------------------------------------ the run

fs_type=$(stat -f -c %T "$W" 2>/dev/null)
free_gib=$(df -Pk "$W" | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }')
need_gib=$(awk -v m="$big_mib" 'BEGIN { printf "%.1f", m * 4 / 1024 + 1 }')
if awk -v f="$free_gib" -v n="$need_gib" 'BEGIN { exit !(f < n) }'; then
	echo "$me: $free_gib GiB free under $W, the run needs about $need_gib" >&2
	exit 1
fi
curl_why=
command -v curl >/dev/null 2>&1 || curl_why="skipped: curl is not in PATH"
load0=$(cut -d' ' -f1 /proc/loadavg)
t_start=$(date +%s)

progress "source file: $big_mib MiB of random bytes (untimed)"
src=$W/big.src
head -c "$big_bytes" /dev/urandom >"$src" &
PIDS="$PIDS $!"
wait $! || fail "making $src"

dd_row start
run_row big tcp 1 "$big_bytes"
run_row big http 1 "$big_bytes"
[ -z "$curl_why" ] && curl_row
run_row small tcp "$msgs" $((msgs * msg_bytes))
run_row small http "$msgs" $((msgs * msg_bytes))
dd_row end
[ -n "$perf_dir" ] && note "perf: the big http row ran under perf record -g (its figures are perturbed); data in $perf_dir"

# ------------------------------------------------------------ the table

echo "bench_http: field -> base over HTTP, next to TCP and to curl uploading to the same server"
echo "dir:     $W ($fs_type)"
echo "sizes:   big = 1 message of $big_mib MiB; small = $msgs x $msg_bytes B"
echo "curl:    ${curl_why:-$(curl --version | head -n 1 | cut -d' ' -f1-2)}"
echo "machine: $(nproc) CPUs, load $load0 at start, $(cut -d' ' -f1 /proc/loadavg) at end; $(($(date +%s) - t_start)) s in all"
[ "$fs_type" = tmpfs ] && echo "WARNING: on tmpfs: fsync is free"
echo

awk -F'|' -v curl_why="$curl_why" '
function rate_mb(b, s) { return s > 0 ? b / s / 1e6 : 0 }
function rate_n(n, s) { return s > 0 ? n / s : 0 }
function mib(k) { return k == "-" || k == "" ? "-" : sprintf("%.0f", k / 1024) }
function ratio(a, b) { return b > 0 ? sprintf("x%.2f", a / b) : "-" }
{
	nr++
	wl[nr] = $1; sys[nr] = $2; label[nr] = $3; n[nr] = $4; bytes[nr] = $5
	secs[nr] = $6; cf[nr] = $7; cb[nr] = $8; rf[nr] = $9; rb[nr] = $10
	mb[nr] = rate_mb($5, $6); ms[nr] = rate_n($4, $6)
	if ($2 == "dd") { dd_sum += mb[nr]; dd_k++ }
	else { r_mb[$1, $2] = mb[nr]; r_ms[$1, $2] = ms[nr] }
}
END {
	dd = dd_k ? dd_sum / dd_k : 0
	hdr = sprintf("%-6s %-34s %6s %8s %8s %8s %6s %6s %6s %6s  %-7s %-7s", "work", "row", "n", "secs", "MB/s", "msgs/s", "cpu f", "cpu b", "rss f", "rss b", "vs tcp", "vs curl")
	print hdr
	gsub(/./, "-", hdr); print hdr
	for (i = 1; i <= nr; i++) {
		vt = "-"; vc = "-"
		if (sys[i] == "http" || sys[i] == "curl") {
			if ((wl[i], "tcp") in r_mb)
				vt = wl[i] == "big" ? ratio(mb[i], r_mb["big", "tcp"]) : ratio(ms[i], r_ms["small", "tcp"])
		}
		if (wl[i] == "big" && (sys[i] == "http" || sys[i] == "tcp") && ("big", "curl") in r_mb)
			vc = ratio(mb[i], r_mb["big", "curl"])
		if (sys[i] == "dd")
			name = label[i]
		else if (wl[i] == "small")
			name = sprintf("%d x 1 KiB %s", n[i], label[i])
		else if (bytes[i] % 1073741824 == 0)
			name = sprintf("%d GiB %s", bytes[i] / 1073741824, label[i])
		else
			name = sprintf("%d MiB %s", bytes[i] / 1048576, label[i])
		printf "%-6s %-34s %6d %8.2f %8.1f %8s %6s %6s %6s %6s  %-7s %-7s\n", wl[i], name, n[i], secs[i], mb[i], \
			(wl[i] == "small" ? sprintf("%.0f", ms[i]) : "-"), cf[i], cb[i], mib(rf[i]), mib(rb[i]), vt, vc
		if (i < nr && wl[i + 1] != wl[i]) print ""
	}
	print ""
	if (dd > 0) printf "disk yardstick: %.1f MB/s (dd, mean of start and end)\n", dd
	if (curl_why != "") print "curl row " curl_why
	print "small messages: no curl row (one body of N x 1 KiB is not the same work); TCP is their reference"
	print ""
	print "aims (printed, never enforced): http >= x0.70 tcp for the big message (MB/s), >= x0.50 for small ones (msgs/s)"
	if (("big", "http") in r_mb && ("big", "tcp") in r_mb) {
		r = r_mb["big", "http"] / r_mb["big", "tcp"]
		line = sprintf("  big    http/tcp x%.2f %-5s", r, (r >= 0.7 ? "meets" : "short"))
		if (("big", "curl") in r_mb)
			line = line sprintf("   http/curl x%.2f   tcp/curl x%.2f", r_mb["big", "http"] / r_mb["big", "curl"], r_mb["big", "tcp"] / r_mb["big", "curl"])
		if (dd > 0)
			line = line sprintf("   http/dd x%.2f", r_mb["big", "http"] / dd)
		print line
	}
	if (("small", "http") in r_ms && ("small", "tcp") in r_ms) {
		r = r_ms["small", "http"] / r_ms["small", "tcp"]
		printf "  small  http/tcp x%.2f %s\n", r, (r >= 0.5 ? "meets" : "short")
	}
}' "$RES"
echo
echo "columns: secs = from starting base's (and field's) ferryd until base's queue held every message (curl: its PUT,"
echo "  start to answer; dd: start to exit); MB = 10^6 payload bytes; cpu f / cpu b = CPU seconds (user+system) of"
echo "  field's / base's ferryd in the row, start-up included (curl row: rss f = curl's peak RSS);"
echo "  rss f / rss b = their peak RSS (MiB, VmHWM, from their start). vs tcp: the row's rate / TCP's (MB/s big,"
echo "  msgs/s small); vs curl: MB/s / the curl row's."
echo "notes:"
sed 's/^/  /' "$NOTES"
ok=1
exit 0
