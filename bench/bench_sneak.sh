#!/bin/sh
# bench_sneak.sh - ferry export / ferry import through a medium, next to
# NNCP's nncp-xfer doing the same work and to cp of the same bytes, in one
# run.  See bench/README.md, "bench_sneak".
#
#   bench/bench_sneak.sh [PARENT]        (make bench-sneak)
#
# PARENT (default $TMPDIR, else /tmp) gets a private mktemp -d directory
# for the nodes, the source files and, unless BENCH_MEDIUM=DIR says where
# the medium is (a mounted stick), the medium too.  Everything the script
# made is removed at exit, also on failure or a signal (BENCH_KEEP=1
# keeps the directory after a failure), after every agent it started is
# killed.
#
# Environment:
#   top_builddir          the build tree (default .): agent/ferryd,
#                         cli/ferry, bench/bench_sneak_util
#   BENCH_MEDIUM=DIR      the medium: a directory on the stick (a
#                         bench-sneak.XXXXXX directory is made inside)
#   BENCH_QUICK=1         128 MiB and 10,000 messages (and 500 for NNCP)
#   BENCH_SNEAK_BIG_MIB=N     the big message, MiB (default 1024)
#   BENCH_SNEAK_MSGS=N        small messages for ferry (default 100000)
#   BENCH_SNEAK_NNCP_MSGS=N   small messages for NNCP (default 2000; its
#                             rates are per message, the time for ferry's
#                             count is extrapolated and says so)
#   BENCH_SNEAK_NNCP=0    leave NNCP out
#
# Exit status: 0 when every step worked (whatever the numbers), 1 when a
# step failed (its log is shown), 2 on a usage error.  The aims (2x NNCP,
# half of cp) are printed, never enforced.

set -u
LC_ALL=C
export LC_ALL

me=bench_sneak
top_builddir=${top_builddir:-.}
FERRYD=$top_builddir/agent/ferryd
FERRY=$top_builddir/cli/ferry
UTIL=$top_builddir/bench/bench_sneak_util

case ${BENCH_QUICK:-0} in
'' | 0 | no | false) quick=0 ;;
*) quick=1 ;;
esac
if [ $quick = 1 ]; then
	big_mib=${BENCH_SNEAK_BIG_MIB:-128}
	msgs=${BENCH_SNEAK_MSGS:-10000}
	nncp_msgs=${BENCH_SNEAK_NNCP_MSGS:-500}
else
	big_mib=${BENCH_SNEAK_BIG_MIB:-1024}
	msgs=${BENCH_SNEAK_MSGS:-100000}
	nncp_msgs=${BENCH_SNEAK_NNCP_MSGS:-2000}
fi
msg_bytes=10240
threads=16
[ "$nncp_msgs" -gt "$msgs" ] && nncp_msgs=$msgs
big_bytes=$((big_mib * 1048576))
# Every timed step starts with twice the big message's memory touched
# (bench_lib.sh, timed): both workloads move about that much through the
# page cache, and on a VM that backs memory lazily the first step to need
# it paid for it (bench/README.md).
WARM_MIB=$((2 * big_mib))

if [ $# -gt 1 ]; then
	echo "usage: $0 [PARENT]" >&2
	exit 2
fi
parent=${1:-${TMPDIR:-/tmp}}

for b in "$FERRYD" "$FERRY" "$UTIL"; do
	if [ ! -x "$b" ]; then
		echo "$me: $b is not built (make bench-sneak, or set top_builddir)" >&2
		exit 2
	fi
done

W=
MED=
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
		echo "$me: kept $W${MED:+ and $MED}" >&2
	else
		[ -n "$MED" ] && rm -rf "$MED"
		[ -n "$W" ] && rm -rf "$W"
	fi
	[ -n "$SOCKDIR" ] && rm -rf "$SOCKDIR"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

W=$(mktemp -d "$parent/bench-sneak.XXXXXX") || exit 1
W=$(cd "$W" && pwd -P)
if [ -n "${BENCH_MEDIUM:-}" ]; then
	MED=$(mktemp -d "$BENCH_MEDIUM/bench-sneak.XXXXXX") || exit 1
	MED=$(cd "$MED" && pwd -P)
	medium=$MED
else
	medium=$W/medium
	mkdir "$medium"
fi
mkdir "$W/log"
# The run's results, notes, failure report and stopwatch (bench_lib.sh).
. "$(dirname "$0")/bench_lib.sh"

# Peak RSS (VmHWM, KiB) of PID since the last hwm_reset.
hwm_reset() {
	echo 5 >"/proc/$1/clear_refs" 2>/dev/null || hwm_noreset=1
}
hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}
hwm_noreset=0

# row WORKLOAD SYSTEM KIND STEP N BYTES SECS RSS_A RSS_B RSS_CMD
# KIND pairs rows for the ratios: queue, out, in, medium, total; yard.
row() {
	printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$RES"
}

# ------------------------------------------------------------ ferry

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

# ferry_nodes DIR: fresh alpha and beta under DIR, each knowing the
# other by its card (no TCP address: the medium is their only link),
# agents started.  Sets SA SB (sockets), PA PB (pids).
ferry_nodes() {
	fn_d=$1
	mkdir -p "$fn_d"
	for fn_n in alpha beta; do
		"$FERRY" init --dir "$fn_d/$fn_n" --name $fn_n >"$W/log/init-$fn_n.log" 2>&1 ||
			fail "ferry init $fn_n"
		fn_s=$fn_d/$fn_n/ferry.sock
		if [ ${#fn_s} -gt 100 ]; then
			[ -n "$SOCKDIR" ] || SOCKDIR=$(mktemp -d /tmp/bsneak.XXXXXX) ||
				fail mktemp
			fn_s=$SOCKDIR/$fn_n.sock
			printf '[node]\nsocket = %s\n' "$fn_s" >>"$fn_d/$fn_n/ferry.conf"
		fi
		echo "$fn_s" >"$fn_d/$fn_n/.sock"
	done
	ca=$("$FERRY" keygen --dir "$fn_d/alpha" --json | tr ',{}' '\n\n\n' |
		sed -n 's/^"card":"\(.*\)"$/\1/p')
	cb=$("$FERRY" keygen --dir "$fn_d/beta" --json | tr ',{}' '\n\n\n' |
		sed -n 's/^"card":"\(.*\)"$/\1/p')
	[ -n "$ca" ] && [ -n "$cb" ] || fail "no card from ferry keygen"
	printf '[peer beta]\nkey = %s\n' "$cb" >>"$fn_d/alpha/ferry.conf"
	printf '[peer alpha]\nkey = %s\n' "$ca" >>"$fn_d/beta/ferry.conf"
	"$FERRYD" -c "$fn_d/alpha/ferry.conf" >>"$fn_d/alpha/log" 2>&1 &
	PA=$!
	PIDS="$PIDS $PA"
	"$FERRYD" -c "$fn_d/beta/ferry.conf" >>"$fn_d/beta/log" 2>&1 &
	PB=$!
	PIDS="$PIDS $PB"
	SA=$(cat "$fn_d/alpha/.sock")
	SB=$(cat "$fn_d/beta/.sock")
	ready "$SA" $PA || fail "alpha's ferryd did not answer within 15 s"
	ready "$SB" $PB || fail "beta's ferryd did not answer within 15 s"
}

stop_nodes() {
	for p in $PA $PB; do
		kill -TERM $p 2>/dev/null
	done
	for p in $PA $PB; do
		sn_i=0
		while kill -0 $p 2>/dev/null && [ $sn_i -lt 300 ]; do
			sleep 0.05
			sn_i=$((sn_i + 1))
		done
		kill -0 $p 2>/dev/null && fail "ferryd $p still running 15 s after SIGTERM"
		wait $p
		sn_rc=$?
		[ $sn_rc = 0 ] || fail "ferryd $p exited with status $sn_rc after SIGTERM"
	done
}

# "messages bytes" of QUEUE at the node of socket S.
queue_stat() {
	"$FERRY" --socket "$1" queues --json | tr '{' '\n' |
		grep "\"queue\":\"$2\"[,}]" | tr ',}' '\n\n' |
		awk -F: '$1 == "\"messages\"" { m = $2 } $1 == "\"bytes\"" { b = $2 }
			END { print m + 0, b + 0 }'
}

medium_bytes() {
	find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}
medium_files() {
	find "$1" -type f | wc -l | tr -d ' '
}

# ferry_run WL N BYTES: queue (big: `ferry send` of $src; small: the
# loader), export onto the medium, import at beta, receipts back.
ferry_run() {
	wl=$1
	n=$2
	bytes=$3
	progress "ferry $wl: nodes"
	ferry_nodes "$W/ferry-$wl"
	rm -rf "${medium:?}"/*

	progress "ferry $wl: queueing $n message(s) on alpha"
	hwm_reset $PA
	if [ "$wl" = big ]; then
		timed "ferry-$wl-queue" "$FERRY" --socket "$SA" send beta/q "$src"
		q_cmd=$T_RSS
	else
		timed "ferry-$wl-queue" "$UTIL" send "$SA" beta/q "$n" $msg_bytes $threads
		q_cmd=-
	fi
	row $wl ferry queue "ferry send on alpha (not in the medium rows)" "$n" "$bytes" \
		"$T_SECS" "$(hwm $PA)" - "$q_cmd"
	q_secs=$T_SECS

	progress "ferry $wl: export"
	hwm_reset $PA
	hwm_reset $PB
	timed "ferry-$wl-export" "$FERRY" --socket "$SA" export -q "$medium"
	row $wl ferry out "ferry export (alpha -> medium)" "$n" "$bytes" "$T_SECS" \
		"$(hwm $PA)" "$(hwm $PB)" "$T_RSS"
	x_secs=$T_SECS
	mb=$(medium_bytes "$medium/ferry")
	mf=$(medium_files "$medium/ferry")
	note "ferry $wl: export wrote $mf file(s), $mb bytes on the medium ($(awk -v a="$mb" -v b="$bytes" 'BEGIN { printf "%.3f", a / b }') x payload)"
	"$UTIL" uncache "$medium" || fail "uncache $medium"

	progress "ferry $wl: import at beta"
	hwm_reset $PA
	hwm_reset $PB
	timed "ferry-$wl-import" "$FERRY" --socket "$SB" import -q "$medium"
	row $wl ferry in "ferry import (medium -> beta's queue)" "$n" "$bytes" \
		"$T_SECS" "$(hwm $PA)" "$(hwm $PB)" "$T_RSS"
	i_secs=$T_SECS
	set -- $(queue_stat "$SB" q)
	[ "$1" = "$n" ] || fail "ferry $wl: beta's queue q holds $1 messages, $n were sent"
	[ "$2" = "$bytes" ] || note "ferry $wl: beta's queue q holds $2 bytes, $bytes were sent"
	left=$(find "$medium/ferry" -name '*.bundle' | wc -l)
	note "ferry $wl: beta's queue holds all $n message(s); after the import the medium holds $left bundle file(s) (receipts for alpha)"

	row $wl ferry medium "ferry export + import" "$n" "$bytes" \
		"$(awk -v a="$x_secs" -v b="$i_secs" 'BEGIN { print a + b }')" - - -
	row $wl ferry total "ferry queue + export + import" "$n" "$bytes" \
		"$(awk -v a="$x_secs" -v b="$i_secs" -v c="$q_secs" 'BEGIN { print a + b + c }')" - - -

	# Custody receipts back to alpha: not in the totals (NNCP sends none).
	hwm_reset $PA
	hwm_reset $PB
	timed "ferry-$wl-receipts" "$FERRY" --socket "$SA" import -q "$medium"
	row $wl ferry rcpt "ferry import of the receipts at alpha (not in totals)" "$n" 0 \
		"$T_SECS" "$(hwm $PA)" "$(hwm $PB)" "$T_RSS"
	out=$("$FERRY" --socket "$SA" info --json | tr ',{}' '\n\n\n' |
		sed -n 's/^"outbound_messages":\([0-9]*\)$/\1/p')
	[ "$out" = 0 ] || fail "ferry $wl: alpha still holds ${out:-?} outbound message(s) after the receipts"
	stop_nodes
	rm -rf "$W/ferry-$wl" "${medium:?}"/*
}

# ------------------------------------------------------------ NNCP

nncp=1
nncp_why=
if [ "${BENCH_SNEAK_NNCP:-1}" = 0 ]; then
	nncp=0
	nncp_why="not run (BENCH_SNEAK_NNCP=0)"
else
	for c in nncp-cfgnew nncp-file nncp-xfer nncp-toss; do
		if ! command -v $c >/dev/null 2>&1; then
			nncp=0
			nncp_why="skipped: $c not in PATH (apt-get install nncp)"
			break
		fi
	done
fi

# nncp_node DIR NAME: keys from nncp-cfgnew into DIR/NAME.keys.
nncp_keys() {
	mkdir -p "$1/$2/spool" "$1/$2/incoming"
	nncp-cfgnew -nocomments >"$1/$2/cfgnew" 2>"$W/log/nncp-cfgnew.log" ||
		fail "nncp-cfgnew"
	for k in id exchpub exchprv signpub signprv noiseprv noisepub; do
		v=$(sed -n "s/^ *$k: *\([A-Z0-9]*\)\$/\1/p" "$1/$2/cfgnew" | head -n 1)
		[ -n "$v" ] || fail "no $k in nncp-cfgnew's output"
		echo "$k=$v"
	done >"$1/$2/keys"
}

# nncp_cfg DIR ME OTHER: ME's configuration, knowing OTHER; files from
# OTHER go to ME's incoming directory.
nncp_cfg() {
	(
		. "$1/$3/keys"
		o_id=$id o_exchpub=$exchpub o_signpub=$signpub o_noisepub=$noisepub
		. "$1/$2/keys"
		cat <<EOF
{
  spool: "$1/$2/spool"
  log: "$1/$2/log"
  noprogress: true
  self: {
    id: $id
    exchpub: $exchpub
    exchprv: $exchprv
    signpub: $signpub
    signprv: $signprv
    noiseprv: $noiseprv
    noisepub: $noisepub
  }
  neigh: {
    self: {
      id: $id
      exchpub: $exchpub
      signpub: $signpub
      noisepub: $noisepub
    }
    $3: {
      id: $o_id
      exchpub: $o_exchpub
      signpub: $o_signpub
      noisepub: $o_noisepub
      incoming: "$1/$2/incoming"
    }
  }
}
EOF
	) >"$1/$2/nncp.hjson"
}

# nncp_run WL N BYTES
nncp_run() {
	wl=$1
	n=$2
	bytes=$3
	d=$W/nncp-$wl
	progress "nncp $wl: nodes"
	mkdir -p "$d"
	nncp_keys "$d" alpha
	nncp_keys "$d" beta
	nncp_cfg "$d" alpha beta
	nncp_cfg "$d" beta alpha
	A=$d/alpha/nncp.hjson
	B=$d/beta/nncp.hjson
	rm -rf "${medium:?}"/*

	progress "nncp $wl: queueing $n packet(s) on alpha"
	if [ "$wl" = big ]; then
		timed "nncp-$wl-queue" nncp-file -quiet -cfg "$A" "$src" beta:big
	else
		# The n small files, cut from random bytes (untimed).
		mkdir "$d/src"
		head -c $((n * msg_bytes)) /dev/urandom |
			(cd "$d/src" && split -b $msg_bytes -a 6 - m) ||
			fail "making $n files of $msg_bytes bytes"
		par=$(nproc 2>/dev/null || echo 2)
		[ "$par" -lt 2 ] && par=2
		timed "nncp-$wl-queue" sh -c 'cd "$1" && ls | xargs -P "$2" -I{} nncp-file -quiet -cfg "$3" {} beta:' \
			sh "$d/src" "$par" "$A"
		note "nncp small: nncp-file, $par at a time, one process per message"
	fi
	row $wl nncp queue "nncp-file on alpha (encrypts here; not in medium rows)" "$n" "$bytes" \
		"$T_SECS" - - "$T_RSS"
	q_secs=$T_SECS

	progress "nncp $wl: nncp-xfer -tx"
	timed "nncp-$wl-tx" nncp-xfer -quiet -cfg "$A" -tx -mkdir "$medium"
	row $wl nncp out "nncp-xfer -tx (alpha -> medium)" "$n" "$bytes" "$T_SECS" - - "$T_RSS"
	x_secs=$T_SECS
	note "nncp $wl: nncp-xfer -tx wrote $(medium_files "$medium") file(s), $(medium_bytes "$medium") bytes on the medium"
	"$UTIL" uncache "$medium" || fail "uncache $medium"

	progress "nncp $wl: nncp-xfer -rx, nncp-toss at beta"
	timed "nncp-$wl-rx" nncp-xfer -quiet -cfg "$B" -rx "$medium"
	row $wl nncp rx "nncp-xfer -rx (medium -> beta's spool)" "$n" "$bytes" "$T_SECS" - - "$T_RSS"
	r_secs=$T_SECS
	r_rss=$T_RSS
	timed "nncp-$wl-toss" nncp-toss -quiet -cfg "$B"
	row $wl nncp toss "nncp-toss (spool -> beta's incoming/)" "$n" "$bytes" "$T_SECS" - - "$T_RSS"
	t_secs=$T_SECS
	row $wl nncp in "nncp-xfer -rx + nncp-toss" "$n" "$bytes" \
		"$(awk -v a="$r_secs" -v b="$t_secs" 'BEGIN { print a + b }')" - - \
		"$(awk -v a="$r_rss" -v b="$T_RSS" 'BEGIN { print (a > b ? a : b) }')"
	got=$(find "$d/beta/incoming" -type f | wc -l)
	gotb=$(medium_bytes "$d/beta/incoming")
	[ "$got" = "$n" ] || fail "nncp $wl: beta's incoming/ holds $got files, $n were sent"
	[ "$gotb" = "$bytes" ] || fail "nncp $wl: beta's incoming/ holds $gotb bytes, $bytes were sent"
	row $wl nncp medium "nncp xfer -tx + -rx + toss" "$n" "$bytes" \
		"$(awk -v a="$x_secs" -v b="$r_secs" -v c="$t_secs" 'BEGIN { print a + b + c }')" - - -
	row $wl nncp total "nncp file + xfer -tx + -rx + toss" "$n" "$bytes" \
		"$(awk -v a="$x_secs" -v b="$r_secs" -v c="$t_secs" -v e="$q_secs" 'BEGIN { print a + b + c + e }')" - - -
	rm -rf "$d" "${medium:?}"/*
}

# ------------------------------------------------------------ raw

# cp_row LABEL: cp of $src onto the medium, fsync'd; then a cold read of
# the copy back (cat, after its pages were dropped).
cp_row() {
	progress "cp ($1)"
	timed "cp-$1" sh -c 'cp "$1" "$2" && sync "$2"' sh "$src" "$medium/cp.bin"
	row big raw yard "cp to the medium + fsync ($1)" 1 "$big_bytes" "$T_SECS" - - "$T_RSS"
	"$UTIL" uncache "$medium/cp.bin" || fail "uncache"
	timed "cat-$1" sh -c 'cat "$1" >/dev/null' sh "$medium/cp.bin"
	row big raw read "cat of the copy, cold cache ($1)" 1 "$big_bytes" "$T_SECS" - - "$T_RSS"
	rm -f "$medium/cp.bin"
}

# ------------------------------------------------------------ the run

fs_type=$(stat -f -c %T "$medium" 2>/dev/null)
free_gib=$(df -Pk "$W" | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }')
need_gib=$(awk -v m="$big_mib" 'BEGIN { printf "%.1f", m * 5 / 1024 + 2.5 }')
if awk -v f="$free_gib" -v n="$need_gib" 'BEGIN { exit !(f < n) }'; then
	echo "$me: $free_gib GiB free under $W, the run needs about $need_gib" >&2
	exit 1
fi
load0=$(cut -d' ' -f1 /proc/loadavg)
t_start=$(date +%s)

progress "source file: $big_mib MiB of random bytes (untimed)"
src=$W/big.src
head -c "$big_bytes" /dev/urandom >"$src" || fail "making $src"

cp_row start
ferry_run big 1 "$big_bytes"
ferry_run small "$msgs" $((msgs * msg_bytes))
if [ $nncp = 1 ]; then
	nncp_run big 1 "$big_bytes"
	nncp_run small "$nncp_msgs" $((nncp_msgs * msg_bytes))
fi
cp_row end
[ $hwm_noreset = 1 ] && note "VmHWM could not be reset (clear_refs): ferryd's RSS is its peak since start"

# ------------------------------------------------------------ the table

echo "bench_sneak: ferry export/import through a medium, next to NNCP and cp"
echo "medium:  $medium ($fs_type)${BENCH_MEDIUM:+, from BENCH_MEDIUM}"
echo "sizes:   big = 1 message of $big_mib MiB; small = $msgs x $msg_bytes B (ferry), $nncp_msgs x $msg_bytes B (NNCP)"
if [ $nncp = 1 ]; then
	echo "nncp:    $(nncp-xfer -version 2>&1 | head -n 1)"
else
	echo "nncp:    $nncp_why"
fi
echo "machine: $(nproc) CPUs, load $load0 at start, $(cut -d' ' -f1 /proc/loadavg) at end; $(($(date +%s) - t_start)) s in all"
[ "$fs_type" = tmpfs ] && echo "WARNING: the medium is on tmpfs: fsync is free, cp and reads are memory copies"
echo

awk -F'|' -v nncp="$nncp" -v nncp_why="$nncp_why" -v ferry_msgs="$msgs" \
	-v aims="${BENCH_AIMS:-}" '
function rate_mb(b, s) { return s > 0 ? b / s / 1e6 : 0 }
function rate_n(n, s) { return s > 0 ? n / s : 0 }
function mib(k) { return k == "-" || k == "" ? "-" : sprintf("%.0f", k / 1024) }
{
	nr++
	wl[nr] = $1; sys[nr] = $2; kind[nr] = $3; step[nr] = $4; n[nr] = $5
	bytes[nr] = $6; secs[nr] = $7; ra[nr] = $8; rb[nr] = $9; rc[nr] = $10
	mb[nr] = rate_mb($6, $7); ms[nr] = rate_n($5, $7)
	if ($2 == "nncp") { nn_mb[$1, $3] = mb[nr]; nn_ms[$1, $3] = ms[nr]; nn_secs[$1, $3] = $7; nn_n[$1] = $5 }
	if ($2 == "ferry") { fe_mb[$1, $3] = mb[nr]; fe_ms[$1, $3] = ms[nr] }
	if ($2 == "ferry" && $8 + 0 > rss_max) rss_max = $8 + 0
	if ($2 == "ferry" && $9 + 0 > rss_max) rss_max = $9 + 0
	if ($3 == "yard") { cp_sum += mb[nr]; cp_k++ }
	if ($3 == "read") { rd_sum += mb[nr]; rd_k++ }
}
END {
	cp = cp_k ? cp_sum / cp_k : 0
	rd = rd_k ? rd_sum / rd_k : 0
	hdr = sprintf("%-6s %-55s %7s %8s %8s %8s %6s %6s %6s  %-9s %-7s", "work", "step", "n", "secs", "MB/s", "msgs/s", "rss a", "rss b", "rss c", "vs NNCP", "vs cp")
	print hdr
	gsub(/./, "-", hdr); print hdr
	for (i = 1; i <= nr; i++) {
		vn = "-"; vc = "-"
		if (sys[i] == "ferry" && (kind[i] == "out" || kind[i] == "in" || kind[i] == "medium" || kind[i] == "total" || kind[i] == "queue")) {
			if ((wl[i], kind[i]) in nn_mb) {
				r = wl[i] == "big" ? mb[i] / nn_mb[wl[i], kind[i]] : ms[i] / nn_ms[wl[i], kind[i]]
				vn = sprintf("x%.2f", r)
			} else if (!nncp)
				vn = "(no nncp)"
			if (cp > 0 && kind[i] != "queue")
				vc = sprintf("x%.2f", mb[i] / cp)
		}
		if (sys[i] == "nncp" && cp > 0 && kind[i] != "queue")
			vc = sprintf("x%.2f", mb[i] / cp)
		label = (index(step[i], sys[i]) == 1 ? "" : sys[i] " ") step[i]
		printf "%-6s %-55s %7d %8.2f %8s %8s %6s %6s %6s  %-9s %-7s\n", wl[i], label, n[i], secs[i], (bytes[i] > 0 ? sprintf("%.1f", mb[i]) : "-"), \
			(wl[i] == "small" || kind[i] == "rcpt" ? sprintf("%.0f", ms[i]) : "-"), mib(ra[i]), mib(rb[i]), mib(rc[i]), vn, vc
		if (i < nr && wl[i + 1] != wl[i]) print ""
		if (i < nr && sys[i + 1] != sys[i] && wl[i + 1] == wl[i]) print ""
	}
	print ""
	printf "cp yardstick: %.1f MB/s (mean of the cp rows at start and end); cold read %.1f MB/s\n", cp, rd
	if (!nncp) print "NNCP rows: " nncp_why
	else if (nn_n["small"] < ferry_msgs && nn_ms["small", "total"] > 0)
		printf "NNCP small ran %d messages, not %d: its rates are per message; %d at its queue+medium rate would take %.0f s (extrapolated)\n", nn_n["small"], ferry_msgs, ferry_msgs, ferry_msgs / nn_ms["small", "total"]
	print ""
	print "aims (printed, never enforced): ferry >= 2x NNCP (msgs/s small, MB/s big) and >= 0.5x cp (MB/s)"
	split("out in medium", ks, " ")
	split("big small", ws, " ")
	for (w = 1; w <= 2; w++)
		for (k = 1; k <= 3; k++) {
			x = ws[w]; y = ks[k]
			if (!((x, y) in fe_mb)) continue
			line = sprintf("  %-5s %-6s ", x, y == "medium" ? "ex+im" : (y == "out" ? "export" : "import"))
			if ((x, y) in nn_mb) {
				r = x == "big" ? fe_mb[x, y] / nn_mb[x, y] : fe_ms[x, y] / nn_ms[x, y]
				line = line sprintf("vs NNCP x%-6.2f %-6s", r, r >= 2 ? "met" : "BELOW")
			} else
				line = line sprintf("vs NNCP %-13s", "n/a")
			if (cp > 0) {
				r = fe_mb[x, y] / cp
				line = line sprintf("  vs cp x%-5.2f %s", r, r >= 0.5 ? "met" : "BELOW")
			}
			print line
		}
	# Issue 15 (bench_report.sh, bench_aim.sh): aim 4, the big message
	# queued, exported and imported against NNCP end to end (nncp-file +
	# xfer -tx + xfer -rx + toss); aim 7, ferryd'"'"'s peak RSS.
	if (aims != "") {
		printf "sneakernet 1 GiB\t%s\tMB/s\t%s\t1.5\t>=\n", (("big", "total") in fe_mb) ? fe_mb["big", "total"] : "-", (("big", "total") in nn_mb) ? nn_mb["big", "total"] : "-" >> aims
		printf "memory\t%.1f\tMiB\t64\t1\t<=\n", rss_max / 1024 >> aims
	}
}' "$RES"
echo
echo "columns: MB = 10^6 payload bytes; rss a / rss b = peak RSS (MiB, VmHWM) of alpha's / beta's ferryd during the step;"
echo "  rss c = peak RSS of the command (ferry CLI, nncp-*, cp; wait4). vs NNCP: ferry's rate / NNCP's for the same step"
echo "  (export ~ xfer -tx, import ~ xfer -rx + toss); vs cp: the row's MB/s / the cp yardstick."
echo "  NNCP encrypts in nncp-file (queue row), ferry seals in export: compare the 'total' rows too."
echo "  The medium's files are dropped from the page cache (fdatasync + fadvise) before every import, -rx and cat."
echo "notes:"
sed 's/^/  /' "$NOTES"
ok=1
exit 0
