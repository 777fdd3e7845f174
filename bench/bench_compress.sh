#!/bin/sh
# bench_compress.sh - a 100 MiB text log on the wire (issue 15 aim 5,
# docs/hop.md 4.8): ferry -> ferry over TCP with compress = auto and with
# compress = no, ferry's bundle for the same file (ferry export), and
# NNCP's packets for it (nncp-file: sent as it is; nncp-exec: NNCP's own
# zstd), in one run.  See bench/README.md, "bench_compress".
#
#   bench/bench_compress.sh [PARENT]      (make bench-compress)
#
# The log is generated: sensor readings, CSV and JSON lines in turn (the
# generator of tests/integration/lib.sh's it_textlog).  Bytes on the wire:
# ferry's from alpha's peer counters (`ferry peers --json` bytes_out: every
# Noise record, handshake included), a bundle's from its file size, NNCP's
# from the size of the packets it queued for beta (what nncp-call or
# nncp-xfer moves, less their own framing).  CPU: ferryd's user+system
# time on each side (/proc), so auto minus no is what compressing costs.
#
# Environment: top_builddir (default .), BENCH_QUICK=1 (20 MiB),
# BENCH_COMPRESS_MIB=N, BENCH_COMPRESS_NNCP=0 (leave NNCP out),
# BENCH_KEEP=1 (keep the directory after a failure).  Exit status: 0 when
# every step worked (the 0.35 aim is printed, not enforced), 1 when a
# step failed, 2 on a usage error.

set -u
LC_ALL=C
export LC_ALL

me=bench_compress
top_builddir=${top_builddir:-.}
FERRYD=$top_builddir/agent/ferryd
FERRY=$top_builddir/cli/ferry
UTIL=$top_builddir/bench/bench_sneak_util
AIM=0.35

case ${BENCH_QUICK:-0} in
'' | 0 | no | false) mib=${BENCH_COMPRESS_MIB:-100} ;;
*) mib=${BENCH_COMPRESS_MIB:-20} ;;
esac
if [ $# -gt 1 ]; then
	echo "usage: $0 [PARENT]" >&2
	exit 2
fi
parent=${1:-${TMPDIR:-/tmp}}
for b in "$FERRYD" "$FERRY" "$UTIL"; do
	if [ ! -x "$b" ]; then
		echo "$me: $b is not built (make bench-compress)" >&2
		exit 2
	fi
done

W=
SOCKDIR=
PIDS=
ok=0
cleanup() {
	rc=$?
	trap - EXIT HUP INT TERM
	for p in $PIDS; do
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

W=$(mktemp -d "$parent/bench-compress.XXXXXX") || exit 1
W=$(cd "$W" && pwd -P)
mkdir "$W/log"
. "$(dirname "$0")/bench_lib.sh"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# CPU seconds (user + system) of PID so far.
cpu_s() {
	awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' \
		"/proc/$1/stat"
}
json() { # KEY: its first numeric value in the JSON on stdin
	tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------ the log

src=$W/log.txt
progress "generating a $mib MiB text log"
awk -v seed=1 -v bytes=$((mib * 1048576)) 'BEGIN {
	srand(seed); t = 1764924000000; v = 20.0; n = 0; i = 0
	split("ok ok ok ok ok warn ok ok error ok", st, " ")
	while (n < bytes) {
		t += 100 + int(rand() * 900); v += (rand() - 0.5) * 0.4
		s = sprintf("sensor-%03d", int(rand() * 64))
		w = st[1 + int(rand() * 10)]
		if (i % 2 == 0)
			l = sprintf("%d,%.3f,%s,%.3f,%.1f,%s\n", i, t / 1000, s,
			    v, 40 + rand() * 20, w)
		else
			l = sprintf("{\"seq\":%d,\"ts_ms\":%.0f,\"node\":\"%s\"," \
			    "\"temp_c\":%.3f,\"rh\":%.1f,\"status\":\"%s\"}\n",
			    i, t, s, v, 40 + rand() * 20, w)
		printf "%s", l; n += length(l); i++
	}
}' >"$src" || fail "generating the log"
size=$(wc -c <"$src" | tr -d ' ')
sum=$(sha256sum <"$src" | cut -d ' ' -f 1)
zwhole=-
command -v zstd >/dev/null 2>&1 &&
	zwhole=$(zstd -3 -c -q "$src" | wc -c | tr -d ' ')

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

# nodes DIR TCP COMPRESS: alpha and beta; with TCP=1 beta listens and
# alpha dials it.  Sets SA SB PA PB.
nodes() {
	d=$1
	mkdir -p "$d"
	for n in alpha beta; do
		"$FERRY" init --dir "$d/$n" --name $n >"$W/log/init-$n.log" 2>&1 ||
			fail "ferry init $n"
		s=$d/$n/ferry.sock
		if [ ${#s} -gt 100 ]; then
			[ -n "$SOCKDIR" ] || SOCKDIR=$(mktemp -d /tmp/bcomp.XXXXXX) ||
				fail mktemp
			s=$SOCKDIR/$n.sock
			printf '[node]\nsocket = %s\n' "$s" >>"$d/$n/ferry.conf"
		fi
		echo "$s" >"$d/$n/.sock"
	done
	ka=$("$FERRY" keygen --dir "$d/alpha" --json | tr ',{}' '\n\n\n' |
		sed -n 's/^"card":"\(.*\)"$/\1/p')
	kb=$("$FERRY" keygen --dir "$d/beta" --json | tr ',{}' '\n\n\n' |
		sed -n 's/^"card":"\(.*\)"$/\1/p')
	[ -n "$ka" ] && [ -n "$kb" ] || fail "no card from ferry keygen"
	if [ "$2" = 1 ]; then
		port=$(free_port) || fail "no free port"
		printf '[node]\nlisten = 127.0.0.1:%s\n' "$port" >>"$d/beta/ferry.conf"
		printf '[peer beta]\nkey = %s\ntcp = 127.0.0.1:%s\ncompress = %s\n' \
			"$kb" "$port" "$3" >>"$d/alpha/ferry.conf"
	else
		printf '[peer beta]\nkey = %s\ncompress = %s\n' "$kb" "$3" \
			>>"$d/alpha/ferry.conf"
	fi
	printf '[peer alpha]\nkey = %s\n' "$ka" >>"$d/beta/ferry.conf"
	"$FERRYD" -c "$d/alpha/ferry.conf" >>"$d/alpha/log" 2>&1 &
	PA=$!
	"$FERRYD" -c "$d/beta/ferry.conf" >>"$d/beta/log" 2>&1 &
	PB=$!
	PIDS="$PIDS $PA $PB"
	SA=$(cat "$d/alpha/.sock")
	SB=$(cat "$d/beta/.sock")
	ready "$SA" $PA || fail "alpha's ferryd did not answer within 15 s"
	ready "$SB" $PB || fail "beta's ferryd did not answer within 15 s"
}

stop_nodes() {
	kill -TERM $PA $PB 2>/dev/null
	wait $PA $PB 2>/dev/null
}

# ferry_tcp COMPRESS: sets F_WIRE (bytes out at alpha), F_SECS, F_CPUA,
# F_CPUB.
ferry_tcp() {
	progress "ferry over TCP, compress = $1"
	nodes "$W/ferry-$1" 1 "$1"
	i=0
	until [ "$("$FERRY" --socket "$SA" peers --json | json connected)" = 1 ] ||
		"$FERRY" --socket "$SA" peers --json | grep -q '"connected":true'; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "alpha's session to beta not up in 30 s"
		sleep 0.1
	done
	o0=$("$FERRY" --socket "$SA" peers --json | json bytes_out)
	a0=$(cpu_s $PA)
	b0=$(cpu_s $PB)
	t0=$(date +%s.%N)
	"$FERRY" --socket "$SA" send beta/q "$src" >"$W/log/send-$1.log" 2>&1 ||
		fail "ferry send (compress = $1)"
	i=0
	until [ "$("$FERRY" --socket "$SA" peers --json | json messages_out)" = 1 ]; do
		i=$((i + 1))
		[ $i -lt 6000 ] || fail "not delivered in 10 minutes (compress = $1)"
		sleep 0.1
	done
	t1=$(date +%s.%N)
	F_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	F_CPUA=$(awk -v a="$a0" -v b="$(cpu_s $PA)" 'BEGIN { printf "%.2f", b - a }')
	F_CPUB=$(awk -v a="$b0" -v b="$(cpu_s $PB)" 'BEGIN { printf "%.2f", b - a }')
	F_WIRE=$(($("$FERRY" --socket "$SA" peers --json | json bytes_out) - o0))
	got=$("$FERRY" --socket "$SB" recv q | sha256sum | cut -d ' ' -f 1)
	[ "$got" = "$sum" ] || fail "beta got other bytes (compress = $1)"
	stop_nodes
	rm -rf "$W/ferry-$1"
}

ferry_tcp auto
w_auto=$F_WIRE s_auto=$F_SECS ca_auto=$F_CPUA cb_auto=$F_CPUB
ferry_tcp no
w_no=$F_WIRE s_no=$F_SECS ca_no=$F_CPUA cb_no=$F_CPUB

progress "ferry export (a bundle), compress = auto"
nodes "$W/ferry-bundle" 0 auto
"$FERRY" --socket "$SA" send beta/q "$src" >"$W/log/send-bundle.log" 2>&1 ||
	fail "ferry send (bundle)"
mkdir "$W/medium"
timed ferry-export "$FERRY" --socket "$SA" export -q "$W/medium"
x_secs=$T_SECS
w_bundle=$(find "$W/medium/ferry" -name '*.bundle' -printf '%s\n' |
	awk '{ s += $1 } END { print s + 0 }')
timed ferry-import "$FERRY" --socket "$SB" import -q "$W/medium"
i_secs=$T_SECS
got=$("$FERRY" --socket "$SB" recv q | sha256sum | cut -d ' ' -f 1)
[ "$got" = "$sum" ] || fail "beta got other bytes from the bundle"
stop_nodes
rm -rf "$W/ferry-bundle" "$W/medium"

# ------------------------------------------------------------ NNCP

n_file=- n_exec=- n_exec_secs=- nncp_why=
if [ "${BENCH_COMPRESS_NNCP:-1}" = 0 ]; then
	nncp_why="not run (BENCH_COMPRESS_NNCP=0)"
else
	for c in nncp-cfgnew nncp-file nncp-exec; do
		command -v $c >/dev/null 2>&1 && continue
		nncp_why="skipped: $c not in PATH (apt-get install nncp)"
		break
	done
fi
nncp_keys() { # DIR NAME
	mkdir -p "$1/$2/spool" "$1/$2/incoming"
	nncp-cfgnew -nocomments >"$1/$2/cfgnew" 2>"$W/log/nncp-cfgnew.log" ||
		fail "nncp-cfgnew"
	for k in id exchpub exchprv signpub signprv noiseprv noisepub; do
		v=$(sed -n "s/^ *$k: *\([A-Z0-9]*\)\$/\1/p" "$1/$2/cfgnew" | head -n 1)
		[ -n "$v" ] || fail "no $k in nncp-cfgnew's output"
		echo "$k=$v"
	done >"$1/$2/keys"
}
nncp_cfg() { # DIR ME OTHER
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
      exec: { cat: ["/bin/cat"] }
    }
  }
}
EOF
	) >"$1/$2/nncp.hjson"
}
spool_bytes() { # DIR: bytes of the packets in it
	find "$1" -type f ! -name '*.lock' ! -path '*/hdr/*' -printf '%s\n' 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}
if [ -z "$nncp_why" ]; then
	d=$W/nncp
	mkdir -p "$d"
	nncp_keys "$d" alpha
	nncp_keys "$d" beta
	nncp_cfg "$d" alpha beta
	nncp_cfg "$d" beta alpha
	. "$d/beta/keys"
	tx=$d/alpha/spool/$id/tx
	progress "nncp-file (as it is)"
	timed nncp-file nncp-file -quiet -cfg "$d/alpha/nncp.hjson" "$src" beta:log
	n_file=$(spool_bytes "$tx")
	rm -rf "$tx"
	progress "nncp-exec (NNCP's zstd)"
	timed nncp-exec sh -c 'nncp-exec -quiet -cfg "$1" beta cat <"$2"' sh \
		"$d/alpha/nncp.hjson" "$src"
	n_exec=$(spool_bytes "$tx")
	n_exec_secs=$T_SECS
	rm -rf "$d"
fi

# ------------------------------------------------------------ table

mibf=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')
cpu_mib() { awk -v a="$1" -v b="$2" -v s="$size" 'BEGIN { printf "%.1f", (a - b) * 1000 / (s / 1048576) }'; }
verdict() { awk -v r="$1" -v a=$AIM 'BEGIN { print (r <= a ? "meets" : "short") }'; }
r_auto=$(ratio "$w_auto" "$size")
r_bundle=$(ratio "$w_bundle" "$size")
echo
echo "bench_compress: a $mibf MiB text log (CSV + JSON lines), bytes on the wire / size (aim: <= $AIM)"
printf '  %-44s %12s %7s  %s\n' "path" "bytes" "ratio" "notes"
printf '  %-44s %12s %7s  %s\n' "ferry TCP, compress = auto (zstd -3 per chunk)" "$w_auto" "$r_auto" \
	"$s_auto s; CPU alpha $ca_auto s, beta $cb_auto s; $(verdict "$r_auto")"
printf '  %-44s %12s %7s  %s\n' "ferry TCP, compress = no" "$w_no" "$(ratio "$w_no" "$size")" \
	"$s_no s; CPU alpha $ca_no s, beta $cb_no s"
printf '  %-44s %12s %7s  %s\n' "ferry bundle (ferry export), auto" "$w_bundle" "$r_bundle" \
	"export $(printf %.2f "$x_secs") s, import $(printf %.2f "$i_secs") s; $(verdict "$r_bundle")"
if [ -n "$nncp_why" ]; then
	printf '  %-44s %s\n' "NNCP" "$nncp_why"
else
	printf '  %-44s %12s %7s  %s\n' "NNCP nncp-file (packets queued)" "$n_file" "$(ratio "$n_file" "$size")" ""
	printf '  %-44s %12s %7s  %s\n' "NNCP nncp-exec (its zstd; packets queued)" "$n_exec" "$(ratio "$n_exec" "$size")" \
		"$(printf %.2f "$n_exec_secs") s"
fi
[ "$zwhole" != - ] &&
	printf '  %-44s %12s %7s  %s\n' "(zstd -3 of the whole file, no framing)" "$zwhole" "$(ratio "$zwhole" "$size")" ""
echo "  ferryd CPU per MiB, auto (no): alpha $(cpu_mib "$ca_auto" 0) ($(cpu_mib "$ca_no" 0)) ms, beta $(cpu_mib "$cb_auto" 0) ($(cpu_mib "$cb_no" 0)) ms: zstd's work against the 4x fewer bytes encrypted, hashed and written"
echo "  (ferry: ratio against NNCP nncp-file x$(awk -v a="$w_auto" -v b="$n_file" 'BEGIN { if (b + 0 > 0) printf "%.3f", a / b; else print "-" }'), against nncp-exec x$(awk -v a="$w_auto" -v b="$n_exec" 'BEGIN { if (b + 0 > 0) printf "%.3f", a / b; else print "-" }'))"
# For make bench's closing table (bench_report.sh keeps the worse of
# TCP and the bundle: "on every transport").
. "$(dirname "$0")/bench_aim.sh"
bench_aim "slow links: compression" "$w_auto" bytes "$size" "$AIM" "<="
bench_aim "slow links: compression" "$w_bundle" bytes "$size" "$AIM" "<="
ok=1
