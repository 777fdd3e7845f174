#!/bin/sh
# agent_kill9.sh - kill -9 of ferryd during a send storm.  Each cycle
# starts 4 senders (send_storm.c: small messages in one round trip, some
# streamed) that note every id ferryd gave them; after a random delay
# ferryd is killed with SIGKILL and started again.  At the end every
# message is received and checked: every id a sender was given is there,
# none twice, every payload whole (a message caught half-streamed by the
# kill must not appear), and at most one message per sender and cycle
# that no sender heard about (committed, then killed before the answer).
# A fifth sender pipelines its sends (ferry_send_async, 64 in flight):
# every send its callbacks reported durable must be there too, and at
# most a window (64) of its sends per cycle may be stored unheard of.
# 4 cycles; 30 with FERRY_TEST_LONG=1.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

STORM=$(it_helper send_storm) || exit 99
T=$IT_TMP
cycles=4
[ $IT_LONG -eq 1 ] && cycles=30
nsenders=4
seed=$(it_rand 1000000000)
it_note "seed $seed, $cycles cycles of $nsenders senders"

start_node alpha
c=1
while [ $c -le $cycles ]; do
	pids=
	s=0
	while [ $s -lt $nsenders ]; do
		timeout 300 "$STORM" send "$FERRY_SOCKET" alpha/storm \
			"$T/ids.$c.$s" $seed $((c * 100 + s)) 2>>"$T/storm.err" &
		pids="$pids $!"
		s=$((s + 1))
	done
	timeout 300 "$STORM" pipe "$FERRY_SOCKET" alpha/storm \
		"$T/ids.$c.pipe" $seed $((c * 100 + 99)) 2>>"$T/storm.err" &
	pids="$pids $!"
	delay=$((300 + $(it_rand 2000)))
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	it_alive "$(node_pid alpha)" ||
		it_fail "cycle $c: ferryd died before it was killed"
	kill9_node alpha
	for p in $pids; do
		wait "$p"
		rc=$?
		[ $rc -eq 0 ] ||
			it_fail "cycle $c: a sender failed (status $rc): $(tail -n 3 "$T/storm.err")"
	done
	n=$(cat "$T"/ids.$c.* 2>/dev/null | wc -l | tr -d ' ')
	it_note "cycle $c: killed after $delay ms; $n messages acknowledged"
	start_agent alpha
	c=$((c + 1))
done

cat "$T"/ids.* >"$T/given" 2>/dev/null
given=$(wc -l <"$T/given" | tr -d ' ')
[ "$given" -gt 0 ] || it_fail "no sender was given any id"
dups=$(sort "$T/given" | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "ferryd gave the same id twice: $dups"

timeout 600 "$STORM" drain "$FERRY_SOCKET" storm 8 >"$T/got" 2>"$T/drain.err"
rc=$?
cat "$T/drain.err"
[ $rc -eq 0 ] || it_fail "receiving what survived failed (status $rc)"
got=$(wc -l <"$T/got" | tr -d ' ')
it_note "$given ids given, $got messages received"

dups=$(sort "$T/got" | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "messages received twice: $dups"
it_ok "no message received twice"
sort "$T/given" >"$T/given.sorted"
sort "$T/got" >"$T/got.sorted"
missing=$(comm -23 "$T/given.sorted" "$T/got.sorted" | wc -l | tr -d ' ')
if [ "$missing" -ne 0 ]; then
	for id in $(comm -23 "$T/given.sorted" "$T/got.sorted" | head -n 3); do
		echo "lost: $id ($("$FERRY" status "$id" 2>&1 | head -n 1))"
	done
	it_fail "$missing acknowledged messages are lost"
fi
it_ok "every acknowledged message survived $cycles kills, payload intact"
extra=$(comm -13 "$T/given.sorted" "$T/got.sorted" | wc -l | tr -d ' ')
it_note "$extra messages were stored but not acknowledged (killed before the answer)"
[ "$extra" -le $((cycles * (nsenders + 64))) ] ||
	it_fail "$extra unacknowledged messages: more than one per sender (64 for the pipelined one) and cycle"
it_ok "at most one unacknowledged message per sender (a window for the pipelined one) and cycle"
expect_eq "storm is empty after the drain" "$(queue_count storm)" 0

stop_node alpha
it_pass
