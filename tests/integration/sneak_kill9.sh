#!/bin/sh
# sneak_kill9.sh - kill -9 of ferryd during `ferry export` and `ferry
# import` (sneakernet through a folder).  alpha queues 3,000 small
# messages for beta (load_clients.c: distinct bodies that check
# themselves) and four of about 2 MiB.  Then, in cycles drawn from a
# seeded generator: alpha gets 200 more small ones (and, one time in
# three, a big one) and exports (1 MiB segments, so several bundle files;
# --again one time in four) and is killed at a random moment of it; beta
# imports and is killed during it (one time in five let finish); one
# cycle in three alpha imports the custody receipts, killed during it
# three times in four.  A killed agent is started again at once.  Kill
# moments are uniform over how long such a run takes on this machine (a
# running mean of those that finished).  At the end, without kills: alpha
# exports, beta imports, alpha imports, until alpha holds nothing for
# beta (the first round without --again: by design nothing needs it; the
# next ones with it; 4 rounds at most).  Then: beta's queues hold every
# message exactly once (no loss, no duplicate; small bodies checked, big
# ones by sha256); alpha holds nothing, the big ones 'handed'; no .part
# left on the medium; no bundle left there for either node; nothing left
# in <state>/bundles/in of either node; every bundle in ferry/rejected/
# was refused as "already imported" (the copy a kill can leave on the
# medium between accepting a bundle and removing it; a torn bundle can
# never carry a final name: .part, fsync, rename); no "does not match its
# hash" / "breaks the format" / "does not read back" in the logs; no
# agent died on its own, both stop cleanly.
# 16 cycles (20 to 35 s); 80 with FERRY_TEST_LONG=1.  The seed is fixed
# (FERRY_TEST_SEED=N picks another), the kill moments depend on timing.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

LOAD=$(it_helper load_clients) || exit 99
T=$IT_TMP
S=$T/stick
mkdir -p "$S" || it_harness "mkdir"
cycles=16
[ "$IT_LONG" -eq 1 ] && cycles=80
nclients=4
nmsgs=750 # per client: 3,000 small messages
seed=${FERRY_TEST_SEED:-4711}
it_note "seed $seed, $cycles cycles"

# A seeded generator (an LCG; the shell's own $RANDOM is not POSIX):
# rnd N sets R to a number in [0, N).
rs=$seed
rnd() {
	rs=$(((rs * 1103515245 + 12345) % 2147483648))
	R=$(((rs / 65536) % $1))
}

ms_sleep() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

make_node alpha
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
fpr() { use_node "$1"; "$FERRY" info --json | json_get fingerprint; }
FA=$(fpr alpha)
FB=$(fpr beta)
[ -n "$FA" ] && [ -n "$FB" ] || it_harness "no fingerprints"

# queue_small QUEUE NCLIENTS NMSGS SIZE: alpha queues NCLIENTS * NMSGS
# messages of SIZE bytes for beta/QUEUE/00 (load_clients); $T/want gets the
# "QUEUE/00 client C seq S" lines beta must end up with.
queue_small() {
	timeout 300 "$LOAD" send "$(node_sock alpha)" "beta/$1" 1 "$2" "$3" \
		"$4" 2>"$T/send.err"
	qs_rc=$?
	[ $qs_rc -eq 0 ] ||
		it_fail "load_clients send failed (status $qs_rc): $(tail -n 3 "$T/send.err")"
	awk -v q="$1/00" -v nc="$2" -v n="$3" 'BEGIN {
		for (c = 0; c < nc; c++) for (s = 0; s < n; s++)
			printf "%s client %03d seq %05d\n", q, c, s }' >>"$T/want"
	echo "$1/00" >>"$T/queues"
	nsmall=$((nsmall + $2 * $3))
}

# queue_big: alpha queues one of about 2 MiB (random bytes) for beta/big.
queue_big() {
	head -c $((2 * 1024 * 1024 + nbig * 4099)) /dev/urandom \
		>"$T/payload.$nbig" || it_harness urandom
	FERRY_SOCKET=$(node_sock alpha) "$FERRY" send beta/big \
		"$T/payload.$nbig" >>"$T/big.ids" || it_fail "send big $nbig"
	nbig=$((nbig + 1))
}

# --- alpha queues 3,000 small ones and 4 big ones for beta
t0=$(it_now_ms)
nsmall=0
nbig=0
: >"$T/want"
: >"$T/queues"
queue_small kq $nclients $nmsgs 300
while [ $nbig -lt 4 ]; do queue_big; done
use_node alpha
expect_eq "alpha holds every message for beta" \
	"$("$FERRY" peers --json | json_get queued_messages)" $((nsmall + nbig))
it_note "queued in $(($(it_now_ms) - t0)) ms"

# Every agent still there?  (A crash of ours is a finding.)
check_alive() { it_check_alive "$1" alpha beta; }

# kill_during NODE DELAY_MS CMD...: run `ferry CMD...` at NODE in the
# background, kill -9 NODE's agent DELAY_MS later (if the command is still
# running), start the agent again; DELAY_MS "-": let it finish.  Sets KD
# to "killed" or "finished", KD_MS to when (ms after the start).
ncmd=0
kill_during() {
	kd_node=$1
	kd_delay=$2
	shift 2
	ncmd=$((ncmd + 1))
	kd_t0=$(it_now_ms)
	(
		FERRY_SOCKET=$(node_sock "$kd_node") "$FERRY" "$@" -q \
			>"$T/out.$ncmd" 2>&1
		echo $? >"$T/rc.$ncmd"
		it_now_ms >"$T/end.$ncmd"
	) &
	kd_pid=$!
	[ "$kd_delay" = - ] || ms_sleep "$kd_delay"
	if [ "$kd_delay" != - ] && [ ! -f "$T/end.$ncmd" ]; then
		check_alive "cycle $c, $kd_node $1"
		kill9_node "$kd_node"
		wait "$kd_pid"
		KD=killed
		KD_MS=$kd_delay
		start_agent "$kd_node"
	else
		wait "$kd_pid"
		kd_rc=$(cat "$T/rc.$ncmd")
		[ "$kd_rc" = 0 ] ||
			it_fail "cycle $c: $kd_node: ferry $* failed (status $kd_rc) without a kill: $(cat "$T/out.$ncmd")"
		KD=finished
		KD_MS=$(($(cat "$T/end.$ncmd") - kd_t0))
	fi
}

# Kill moments: uniform over how long such a run takes (a running mean of
# those that finished), so that most kills land inside the work on any
# machine.
est_exp=100   # export of 200 small ones
est_heavy=300 # export with a big one, or --again
est_bimp=200  # beta's import
est_aimp=150  # alpha's import (custody receipts)
# est MS: after a run that finished, MS moved halfway to its time (>= 40).
est() {
	[ $KD = finished ] && EST=$((($1 + KD_MS) / 2)) || EST=$1
	[ $EST -ge 40 ] || EST=40
}

# --- the cycles
t0=$(it_now_ms)
kills=0
c=1
while [ $c -le $cycles ]; do
	tc=$(it_now_ms)
	line="cycle $c:"
	# Something new to export each time: 200 small ones (300 KiB),
	# now and then a big one.
	queue_small kc$c 1 200 1500
	big=0
	rnd 3
	[ $R -eq 0 ] && queue_big && big=1
	rnd 4
	again=
	[ $R -eq 0 ] && again=--again
	if [ $big -eq 1 ] || [ -n "$again" ]; then
		rnd $est_heavy
		kill_during alpha $((2 + R)) export "$S" --segment 1M $again
		est $est_heavy
		est_heavy=$EST
	else
		rnd $est_exp
		kill_during alpha $((2 + R)) export "$S" --segment 1M
		est $est_exp
		est_exp=$EST
	fi
	line="$line alpha export${again:+ $again} $KD ($KD_MS ms);"
	[ $KD = killed ] && kills=$((kills + 1))
	rnd 5
	if [ $R -eq 0 ]; then
		d=-
	else
		rnd $est_bimp
		d=$((2 + R))
	fi
	kill_during beta $d import "$S"
	est $est_bimp
	est_bimp=$EST
	line="$line beta import $KD ($KD_MS ms)"
	[ $KD = killed ] && kills=$((kills + 1))
	rnd 3
	if [ $R -eq 0 ]; then
		rnd 4
		if [ $R -eq 0 ]; then
			d=-
		else
			rnd $est_aimp
			d=$((2 + R))
		fi
		kill_during alpha $d import "$S"
		est $est_aimp
		est_aimp=$EST
		line="$line; alpha import $KD ($KD_MS ms)"
		[ $KD = killed ] && kills=$((kills + 1))
	fi
	check_alive "cycle $c"
	it_note "$line [$(($(it_now_ms) - tc)) ms]"
	c=$((c + 1))
done
it_note "$cycles cycles, $kills kills, in $(($(it_now_ms) - t0)) ms; .part files an interrupted export left: $(cat "$(node_log alpha)" "$(node_log beta)" | grep -c 'left by an interrupted run')"

# --- to the end without kills
run() {
	rn_node=$1
	shift
	FERRY_SOCKET=$(node_sock "$rn_node") "$FERRY" "$@" -q >"$T/last" 2>&1 ||
		it_fail "$rn_node: ferry $* failed: $(cat "$T/last")"
	cat "$T/last" >>"$T/final.out"
}
r=1
t0=$(it_now_ms)
again=
while :; do
	run alpha export "$S" --segment 1M $again
	[ -z "$(find "$S/ferry/$FB" -name '*.part')" ] ||
		it_fail "round $r: .part files left in ferry/$FB after a clean export"
	run beta import "$S"
	run alpha import "$S"
	q=$(use_node alpha && "$FERRY" peers --json | json_get queued_messages)
	it_note "final round $r ($(($(it_now_ms) - t0)) ms): alpha still holds $q messages for beta"
	[ "$q" = 0 ] && break
	# Only a bundle lost between the agents needs --again; by design
	# none is (a torn one is a .part, its messages never marked).
	[ $r -eq 1 ] &&
		it_note "NOTE: a clean round without --again left $q messages 'on medium' at alpha"
	again=--again
	[ $r -lt 4 ] || it_fail "alpha still holds $q messages for beta after $r clean rounds"
	r=$((r + 1))
done
check_alive "the end"

# --- the medium and the spools
find "$S" -name '*.part' >"$T/parts"
[ -s "$T/parts" ] && it_fail ".part files left on the medium: $(head -n 3 "$T/parts")"
it_ok "no .part file left on the medium"
left=$(find "$S/ferry/$FB" "$S/ferry/$FA" -name '*.bundle' 2>/dev/null |
	wc -l | tr -d ' ')
expect_eq "bundles left on the medium for alpha or beta" "$left" 0
for n in alpha beta; do
	find "$(node_dir $n)" -path '*/bundles/in/*' >"$T/spool.$n"
	[ -s "$T/spool.$n" ] &&
		it_fail "files left in $n's bundles/in: $(head -n 3 "$T/spool.$n")"
done
it_ok "nothing left in bundles/in of either node"

# --- ferry/rejected/: replays only
nrej=0
if [ -d "$S/ferry/rejected" ]; then
	for f in "$S/ferry/rejected/"*; do
		[ -e "$f" ] || continue
		case $f in
		*.txt) continue ;;
		esac
		nrej=$((nrej + 1))
		[ -f "$f.txt" ] ||
			it_fail "$(basename "$f") is in ferry/rejected/ without a reason (.txt)"
		grep -q 'already imported' "$f.txt" ||
			it_fail "$(basename "$f") refused for another reason than a replay: $(cat "$f.txt")"
	done
fi
it_ok "ferry/rejected/: $nrej bundles, every one an 'already imported' replay"

for n in alpha beta; do
	if grep -E 'does not match its hash|breaks the format|does not read back' \
		"$(node_log $n)" >"$T/bad.$n"; then
		it_fail "$n's log: $(head -n 3 "$T/bad.$n")"
	fi
done
it_ok "no damaged bundle or message in the logs"

# --- beta got everything exactly once
use_node beta
sort -o "$T/want" "$T/want"
: >"$T/got.raw"
while read -r q; do
	timeout 300 "$LOAD" drain "$(node_sock beta)" "$q" 4 >"$T/got.q" \
		2>"$T/drain.err"
	rc=$?
	[ $rc -eq 0 ] ||
		it_fail "draining beta's $q failed (status $rc): $(tail -n 3 "$T/drain.err")"
	sed "s|^|$q |" "$T/got.q" >>"$T/got.raw"
done <"$T/queues"
sort "$T/got.raw" >"$T/got"
dups=$(uniq -d "$T/got" | head -n 3)
[ -z "$dups" ] || it_fail "messages delivered twice at beta: $dups"
missing=$(comm -23 "$T/want" "$T/got" | wc -l | tr -d ' ')
extra=$(comm -13 "$T/want" "$T/got" | wc -l | tr -d ' ')
if [ "$missing" -ne 0 ] || [ "$extra" -ne 0 ]; then
	it_fail "beta: $missing small messages lost (e.g. $(comm -23 "$T/want" "$T/got" | head -n 1)), $extra unexpected"
fi
it_ok "beta got the $nsmall small messages exactly once, bodies intact"
sha256sum "$T"/payload.* | cut -d ' ' -f 1 | sort >"$T/want.big"
: >"$T/got.big"
i=0
while "$FERRY" recv big >"$T/b" 2>/dev/null; do
	sha256sum "$T/b" | cut -d ' ' -f 1 >>"$T/got.big"
	i=$((i + 1))
	[ $i -le $((nbig * 3)) ] || break
done
sort -o "$T/got.big" "$T/got.big"
cmp -s "$T/got.big" "$T/want.big" ||
	it_fail "beta's big queue: $(wc -l <"$T/got.big" | tr -d ' ') messages, not the $nbig sent (or a payload differs)"
it_ok "beta got the $nbig big messages exactly once, byte for byte"
expect_eq "messages left at beta" "$("$FERRY" info --json | json_get messages)" 0
use_node alpha
expect_eq "messages left at alpha" "$("$FERRY" info --json | json_get messages)" 0
for id in $(cat "$T/big.ids"); do
	st=$("$FERRY" status "$id" --json | json_get status)
	[ "$st" = handed ] || it_fail "big $id at alpha: '$st', not 'handed'"
done
it_ok "alpha: custody of the big ones released ('handed')"

stop_node alpha
stop_node beta
it_pass
