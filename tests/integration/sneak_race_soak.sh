#!/bin/sh
# sneak_race_soak.sh - sneak_race.sh at random: large messages that reach
# their node over TCP and on a stick at once, with kill -9 now and then.
# fb listens, fa dials it with `rate = 8M`.  Each round fa sends one
# message of 8 to 64 MiB (pseudo-random bytes from the seed; only its
# sha256 is kept) to fb/q and at once exports it (`--segment 4M`: 3 to
# 17 bundles).  While it is on the wire, fb imports one to three copies
# of those bundles at random moments, each a random prefix (the first k
# by sequence number) or a random subset; one round in three, fa or fb
# is killed (kill -9) at a random moment and started again.  Once fa
# says "handed" (90 s at most), fb imports every bundle of the round (the
# rest, and replays) and fa the custody receipts.  At the end: fb's q
# holds every message exactly once, each readable and with the sha256
# that was sent; nothing in dead, nothing left at fa (every message
# "handed", nothing stored or outbound) nor at fb once q is drained.
# 4 rounds (30 to 35 s on 2 cores), 30 with FERRY_TEST_LONG=1 (3.5 min).
# The seed is random, printed; FERRY_TEST_SEED=N repeats the choices of a
# run (the moments depend on timing too).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
rounds=4
[ "$IT_LONG" -eq 1 ] && rounds=30
seed=${FERRY_TEST_SEED:-$(it_rand 1000000000)}
it_note "seed $seed, $rounds rounds"
rate=$((8 * 1024 * 1024))

# A seeded generator (an LCG; the shell's own $RANDOM is not POSIX):
# rnd N sets R to a number in [0, N).
rs=$seed
rnd() {
	rs=$(((rs * 1103515245 + 12345) % 2147483648))
	R=$(((rs / 65536) % $1))
}

ms_sleep() {
	[ "$1" -gt 0 ] || return 0
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}


make_node fa
make_node fb
node_listen fb "$(it_free_port)"
node_peer fa fb "rate = 8M"
node_peer fb fa
start_agent fa
start_agent fb
FB=$(ferry_at fb info --json | json_get fingerprint)
[ -n "$FB" ] || it_harness "no fingerprint"

# Every agent still there?  (A crash of ours is a finding.)
check_alive() { it_check_alive "$1" fa fb; }

# The session up before the first round (fa dials when something waits).
echo warm | ferry_at fa send fb/warm >/dev/null || it_fail "fa: send"
wait_count fb warm 1 20 || it_fail "fa did not reach fb within 20 s"
ferry_at fb recv warm >/dev/null || it_fail "fb: recv warm-up"

: >"$T/sent"
: >"$T/rounds"
kills=0
nimports=0
t0=$(it_now_ms)
r=1
while [ $r -le $rounds ]; do
	tr0=$(it_now_ms)
	rnd 56
	size=$(((8 + R) * 1024 * 1024))
	rnd 32768 # R < 32768: the LCG's 15 bits
	size=$((size + R * 31))
	wire_ms=$((size / (rate / 1000)))
	S=$T/stick.$r
	mkdir -p "$S" || it_harness mkdir

	# --- send (the sha256 taken on the way, through a fifo) and export
	mkfifo "$T/fifo" || it_harness mkfifo
	sha256sum <"$T/fifo" | cut -d ' ' -f 1 >"$T/sha" &
	shp=$!
	id=$(it_gen $((seed + r)) $size | tee "$T/fifo" | ferry_at fa send fb/q) ||
		it_fail "round $r: send of $size bytes"
	wait $shp || it_harness "sha256sum"
	rm -f "$T/fifo"
	sent=$(it_now_ms)
	echo "$id $size $(cat "$T/sha")" >>"$T/sent"
	ferry_at fa export "$S" --segment 4M -q >"$T/exp" 2>&1 ||
		it_fail "round $r: export: $(cat "$T/exp")"
	for f in "$S/ferry/$FB/"*.bundle; do
		[ -f "$f" ] && echo "$(it_bundle_seq "$f") $f"
	done | sort | cut -d ' ' -f 2 >"$T/bundles"
	n=$(wc -l <"$T/bundles" | tr -d ' ')
	[ "$n" -ge 2 ] || it_harness "round $r: $n bundles for $size bytes"

	# --- the plan: imports (prefix or subset, folders made now) and
	# perhaps a kill, at moments within the transfer
	: >"$T/plan"
	rnd 3
	nev=$((R + 1))
	e=1
	while [ $e -le $nev ]; do
		D=$T/imp.$r.$e
		mkdir -p "$D/ferry/$FB" || it_harness mkdir
		rnd 2
		if [ $R -eq 0 ]; then
			rnd "$n"
			k=$((R + 1))
			head -n $k "$T/bundles" >"$T/pick"
			what="prefix $k/$n"
		else
			: >"$T/pick"
			while read -r f; do
				rnd 2
				[ $R -eq 0 ] && echo "$f" >>"$T/pick"
			done <"$T/bundles"
			if [ ! -s "$T/pick" ]; then
				rnd "$n"
				sed -n "$((R + 1))p" "$T/bundles" >"$T/pick"
			fi
			what="subset $(sed 's|.*/||; s|\.bundle$||' "$T/pick" |
				while read -r b; do
					grep -n "$b" "$T/bundles" | cut -d : -f 1
				done | tr '\n' ',' | sed 's/,$//')/$n"
		fi
		while read -r f; do
			cp "$f" "$D/ferry/$FB/" || it_harness cp
		done <"$T/pick"
		rnd "$wire_ms"
		echo "$R import $e $what" >>"$T/plan"
		e=$((e + 1))
	done
	rnd 3
	if [ $R -eq 0 ]; then
		victim=fb
		rnd 2
		[ $R -eq 0 ] && victim=fa
		rnd "$wire_ms"
		echo "$R kill $victim" >>"$T/plan"
	fi
	sort -n -o "$T/plan" "$T/plan"

	# --- the transfer: the plan at its moments, imports in the
	# background (one at a time), so that a kill can hit one
	line="round $r: $id, $size bytes, $n bundles, ~$wire_ms ms on the wire:"
	ipid=
	ikilled=0
	while read -r at_ms kind a1 a2 <&3; do
		ms_sleep $((sent + at_ms - $(it_now_ms)))
		if [ "$kind" = kill ]; then
			check_alive "round $r"
			kill9_node "$a1"
			[ "$a1" = fb ] && [ -n "$ipid" ] && ikilled=1
			start_agent "$a1"
			kills=$((kills + 1))
			line="$line kill $a1 at $((at_ms)) ms;"
			continue
		fi
		if [ -n "$ipid" ]; then
			wait "$ipid"
			rc=$?
			[ $rc -eq 0 ] || [ $ikilled -eq 1 ] ||
				it_fail "round $r: fb: import failed (status $rc): $(cat "$T/imp.out")"
		fi
		ikilled=0
		(ferry_at fb import "$T/imp.$r.$a1" -q >"$T/imp.out" 2>&1) &
		ipid=$!
		nimports=$((nimports + 1))
		line="$line import $a2 at $(($(it_now_ms) - sent)) ms;"
	done 3<"$T/plan"
	if [ -n "$ipid" ]; then
		wait "$ipid"
		rc=$?
		[ $rc -eq 0 ] || [ $ikilled -eq 1 ] ||
			it_fail "round $r: fb: import failed (status $rc): $(cat "$T/imp.out")"
	fi
	check_alive "round $r"

	# --- settle: handed at fa within 90 s of the send
	while :; do
		st=$(ferry_at fa status "$id" --json | json_get status)
		[ "$st" = handed ] && break
		[ $(($(it_now_ms) - sent)) -lt 90000 ] ||
			it_fail "round $r: $id is not handed at fa 90 s after the send: $(ferry_at fa status "$id" | head -n 1); at fb: $(ferry_at fb status "$id" | head -n 1)"
		sleep 0.2
	done
	line="$line handed at $(($(it_now_ms) - sent)) ms"

	# --- the rest: fb imports every bundle of the round (what it had
	# not, and replays), fa the custody receipts
	ferry_at fb import "$S" -q >"$T/rest" 2>&1 ||
		it_fail "round $r: fb: import of every bundle failed: $(cat "$T/rest")"
	for d in "$S" "$T/imp.$r".*; do
		ferry_at fa import "$d" -q >"$T/rcpt" 2>&1 ||
			it_fail "round $r: fa: import of the receipts on $d failed: $(cat "$T/rcpt")"
	done
	rm -rf "$S" "$T/imp.$r".*
	it_note "$line [$(($(it_now_ms) - tr0)) ms]"
	echo "$line" >>"$T/rounds"
	r=$((r + 1))
done
check_alive "the end"
it_note "$rounds rounds, $nimports imports during transfers, $kills kills, in $(($(it_now_ms) - t0)) ms"

# --- fa: nothing left, every message handed
use_node fa
while read -r id _; do
	st=$("$FERRY" status "$id" --json | json_get status)
	[ "$st" = handed ] || it_fail "$id at fa: '$st', not 'handed'"
done <"$T/sent"
it_ok "fa: every message 'handed'"
expect_eq "fa: messages stored" "$("$FERRY" info --json | json_get messages)" 0
expect_eq "fa: messages outbound" \
	"$("$FERRY" info --json | json_get outbound_messages)" 0

# --- fb: every message in q exactly once, readable, the sha256 sent
use_node fb
expect_eq "fb's dead queue" "$(queue_count dead)" 0
expect_eq "messages in fb's q" "$(queue_count q)" "$rounds"
mkdir -p "$T/out" || it_harness mkdir
: >"$T/got"
i=0
while [ $i -le $((rounds + 1)) ]; do
	p=$("$FERRY" recv q -o "$T/out" 2>"$T/recv.err")
	rc=$?
	[ $rc -eq 3 ] && break
	if [ $rc -ne 0 ]; then
		rid=$(grep -o '[0-9a-f]\{32\}' "$T/recv.err" | head -n 1)
		# Which of those not received yet are short at fb (the
		# store's spool files).
		while read -r sid ssize _; do
			grep -q "^$sid " "$T/got" && continue
			sp=$(find "$(node_dir fb)" -path "*/spool/$sid" -exec stat -c %s {} \;)
			[ "${sp:-0}" = "$ssize" ] ||
				it_note "fb: the spool file of $sid holds ${sp:-no} bytes, of $ssize: $(grep "^round [0-9]*: $sid," "$T/rounds" | cut -d , -f 1)"
		done <"$T/sent"
		sp=
		[ -n "$rid" ] &&
			sp=$(find "$(node_dir fb)" -path "*/spool/$rid" -exec stat -c %s {} \;)
		it_fail "fb: ferry recv q failed (status $rc): $(tr '\n' ' ' <"$T/recv.err")(the spool file of ${rid:-it} holds ${sp:-no} bytes, of $(grep "^$rid " "$T/sent" | cut -d ' ' -f 2); $(grep "^round [0-9]*: $rid," "$T/rounds"))"
	fi
	echo "$(basename "$p") $(stat -c %s "$p") $(sha256sum <"$p" | cut -d ' ' -f 1)" >>"$T/got"
	rm -f "$p"
	i=$((i + 1))
done
sort -o "$T/got" "$T/got"
sort -o "$T/sent" "$T/sent"
dups=$(cut -d ' ' -f 1 "$T/got" | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "messages received twice at fb: $dups"
if ! cmp -s "$T/sent" "$T/got"; then
	it_fail "fb's q: $(comm -23 "$T/sent" "$T/got" | wc -l | tr -d ' ') messages sent are missing or differ (e.g. $(comm -23 "$T/sent" "$T/got" | head -n 1)), $(comm -13 "$T/sent" "$T/got" | wc -l | tr -d ' ') received that were not sent (e.g. $(comm -13 "$T/sent" "$T/got" | head -n 1))"
fi
it_ok "fb: every message exactly once, its length and sha256 as sent"
expect_eq "fb: messages stored once q is drained" \
	"$("$FERRY" info --json | json_get messages)" 0
expect_eq "fb's dead queue at the end" "$(queue_count dead)" 0
it_note "fb's log: $(grep -c 'resuming message' "$(node_log fb)") transfers resumed, $(grep -c 'cannot store message' "$(node_log fb)") 'cannot store message'; files left in its bundles/in: $(find "$(node_dir fb)" -path '*/bundles/in/*' | wc -l | tr -d ' ')"

stop_node fa
stop_node fb
it_pass
