#!/bin/sh
# bench_slow.sh - slow, paid links (issue 15 "Performance", aim 5): what
# ferry puts on the wire, and how it shares a rate-limited link.  Two
# ferryd, alpha -> beta over loopback TCP, every setting at its default
# unless said.
#
#  framing:  10,000 x 1 KiB messages of random bytes (nothing
#            compresses) from 4 libferry clients, link up; bytes on the
#            wire per message, both ways (alpha's counters for beta: every
#            record and its length prefix, the Noise handshake and HELLO
#            included, the receipts coming back too; TCP/IP headers not),
#            against 1 KiB.  Aim: at most x1.15.
#  rate:     alpha's [peer beta] gets `rate = 256K`; one 20 MiB message
#            (BENCH_QUICK=1: 4 MiB) of random bytes, from its send to its
#            arrival in beta's queue: goodput against the rate (aim: at
#            least 90 %); half-way through, one urgent 1 KiB message:
#            from its send to beta's queue (aim: within 2 s).
#
# Records the aims for bench_report.sh (bench_aim.sh) and prints them.
# Usage: bench_slow.sh PARENT_DIR (its own mktemp -d under it, removed).
me=bench_slow
top_builddir=${top_builddir:-.}
FERRYD=$top_builddir/agent/ferryd
FERRY=$top_builddir/cli/ferry
UTIL=$top_builddir/bench/bench_sneak_util
SMALL_N=10000
BIG_MIB=20
RATE=262144 # 256K
case ${BENCH_QUICK:-0} in
'' | 0 | no | false) ;;
*)
	SMALL_N=2000
	BIG_MIB=4
	;;
esac
for b in "$FERRYD" "$FERRY" "$UTIL"; do
	[ -x "$b" ] || {
		echo "$me: $b is not built (make bench-slow)" >&2
		exit 2
	}
done
W=$(mktemp -d "${1:-/tmp}/ferry-bench-slow.XXXXXX") || exit 1
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM
. "$(dirname "$0")/bench_aim.sh"
fail() {
	echo "$me: FAILED: $*" >&2
	tail -n 5 "$W"/*/log >&2 2>/dev/null
	exit 1
}
card() { "$FERRY" keygen --dir "$W/$1" --json | sed 's/.*"card":"\([^"]*\)".*/\1/'; }
num() { tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1; }
now() { date +%s.%N; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for n in alpha beta; do
	"$FERRY" init --dir "$W/$n" --name $n >/dev/null 2>&1 || fail "ferry init $n"
done
printf '[node]\nlisten = 127.0.0.1:%s\n[peer alpha]\nkey = %s\n' "$port" \
	"$(card alpha)" >>"$W/beta/ferry.conf"
printf '[peer beta]\nkey = %s\ntcp = 127.0.0.1:%s\ndial = always\n' \
	"$(card beta)" "$port" >>"$W/alpha/ferry.conf"
SA=$W/alpha/ferry.sock
SB=$W/beta/ferry.sock
start() { # NAME
	"$FERRYD" -c "$W/$1/ferry.conf" >>"$W/$1/log" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$1=$!"
}
up() { # wait for alpha's session with beta
	i=0
	until "$FERRY" --socket "$SA" peers --json 2>/dev/null | grep -q '"connected":true'; do
		i=$((i + 1))
		[ $i -lt 150 ] || fail "the session did not come up"
		sleep 0.1
	done
}
peer_bytes() { # alpha's bytes out + in for beta
	j=$("$FERRY" --socket "$SA" peers --json)
	echo $(($(echo "$j" | num bytes_out) + $(echo "$j" | num bytes_in)))
}
outbound_empty() { # alpha holds nothing for beta any more
	i=0
	while "$FERRY" --socket "$SA" status --json 2>/dev/null |
		tr ',{}' '\n\n\n' | grep -q '"outbound":[1-9]'; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "alpha still holds messages for beta"
		sleep 0.1
	done
}
start beta
start alpha
up

# ---------------------------------------------------------- framing
echo "$me: $SMALL_N x 1 KiB, link up" >&2
"$UTIL" send "$SA" beta/small "$SMALL_N" 1024 4 >/dev/null || fail "sending"
"$UTIL" wait "$SB" small "$SMALL_N" 300 >/dev/null || fail "not all arrived"
outbound_empty
sleep 1 # the last receipts' bytes are counted
wire=$(peer_bytes)
per=$(awk -v w="$wire" -v n="$SMALL_N" 'BEGIN { printf "%.1f", w / n }')

# ------------------------------------------------------------- rate
kill "$pid_alpha" && wait "$pid_alpha" 2>/dev/null
printf 'rate = %s\n' "$RATE" >>"$W/alpha/ferry.conf"
start alpha
up
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$W/big" || fail "making the message"
head -c 1024 /dev/urandom >"$W/urgent" || fail "making the message"
echo "$me: one $BIG_MIB MiB message at rate = $RATE B/s (~$((BIG_MIB * 1048576 / RATE)) s)" >&2
t0=$(now)
"$FERRY" --socket "$SA" send beta/big "$W/big" >/dev/null || fail "send big"
half=$(awk -v b="$BIG_MIB" -v r="$RATE" 'BEGIN { printf "%.1f", b * 1048576 / r / 2 }')
sleep "$half"
tu=$(now)
"$FERRY" --socket "$SA" send -u beta/urgent "$W/urgent" >/dev/null || fail "send urgent"
du=$("$UTIL" wait "$SB" urgent 1 60 | awk '{ print $2 }') || fail "urgent did not arrive"
db=$("$UTIL" wait "$SB" big 1 $((BIG_MIB * 1048576 / RATE * 4 + 60)) |
	awk '{ print $2 }') || fail "big did not arrive"
good=$(awk -v b="$BIG_MIB" -v t0="$t0" -v t1="$db" 'BEGIN { printf "%.0f", b * 1048576 / (t1 - t0) }')
urg=$(awk -v t0="$tu" -v t1="$du" 'BEGIN { printf "%.3f", t1 - t0 }')

echo "slow links (issue 15, aim 5): alpha -> beta over loopback TCP"
echo "  framing: $SMALL_N x 1024 B random: $wire bytes both ways, $per per message: x$(awk -v p="$per" 'BEGIN { printf "%.3f", p / 1024 }') of 1 KiB (aim at most x1.15)"
echo "  rate = $RATE B/s: $BIG_MIB MiB in $(awk -v a="$t0" -v b="$db" 'BEGIN { printf "%.1f", b - a }') s, goodput $good B/s: x$(awk -v g="$good" -v r="$RATE" 'BEGIN { printf "%.3f", g / r }') of the rate (aim at least x0.90)"
echo "  urgent 1 KiB sent half-way: in beta's queue after $urg s (aim within 2 s)"
bench_aim "slow links: framing overhead" "$per" bytes 1024 1.15 "<="
bench_aim "slow links: goodput at rate" "$good" B/s "$RATE" 0.9 ">="
bench_aim "slow links: urgent during a big message" "$urg" s 2 1 "<="
