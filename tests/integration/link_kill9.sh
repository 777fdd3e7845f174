#!/bin/sh
# link_kill9.sh - kill -9 of either end of a link while messages flow.
# alpha forwards to beta over TCP.  Two senders on alpha (kill_sender.c)
# keep sending to beta/kq: one small messages (16 B to 4 KiB, one round
# trip each), the other also streamed ones of 1 to 6 MiB; priorities 0 to
# 7; each id alpha GAVE is noted at once.  The link is rate limited
# (rate = 12M) so that the big ones are on the wire for a while.  A
# consumer on beta takes, checks and acks what arrives, noting each id
# once its ack is answered.  Each cycle kills alpha or beta, in turn, at
# a random moment and starts it again (with the senders or the consumer,
# which lose their agent with it).  At the end alpha drains, the rest of
# beta's queue is received, and everything is checked: every id a sender
# was given reached beta's consumers exactly once (by id, and by sender
# and sequence number) with its payload whole, or is acked at beta with
# the answer lost to a kill (at most one per kill of beta); what no
# sender heard about is only the one message a sender had in hand when
# alpha was killed; nothing is left anywhere.
# 30 cycles (about 35 s on 2 cores, more under the sanitizers);
# 150 with FERRY_TEST_LONG=1.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

KS=$(it_helper kill_sender) || exit 99
T=$IT_TMP
cycles=30
[ $IT_LONG -eq 1 ] && cycles=150
nsenders=2
kibps=3072 # of streamed payloads
seed=$(it_rand 1000000000)
it_note "seed $seed, $cycles cycles"

make_node alpha
make_node beta
node_listen alpha "$(it_free_port)"
node_listen beta "$(it_free_port)"
node_peer alpha beta "keepalive = 3s" "rate = 12M"
node_peer beta alpha "keepalive = 3s"
start_agent alpha
start_agent beta

gen=0
spids=
start_senders() {
	gen=$((gen + 1))
	spids=
	ss_i=0
	while [ $ss_i -lt $nsenders ]; do
		# sender 0: small ones only; 1: one in 4 streamed
		timeout 600 "$KS" send "$(node_sock alpha)" beta/kq \
			"$T/ids.$gen.$ss_i" "$seed" $((gen * 10 + ss_i)) \
			$((ss_i * 4)) $kibps "$T/stop" 2>>"$T/send.err" &
		spids="$spids $!"
		ss_i=$((ss_i + 1))
	done
}

# Wait for the senders; each must have exited 0 (agent lost, or stop).
wait_senders() {
	for ws_p in $spids; do
		wait "$ws_p"
		ws_rc=$?
		[ $ws_rc -eq 0 ] ||
			it_fail "$1: a sender failed (status $ws_rc): $(tail -n 3 "$T/send.err")"
	done
	spids=
}

cgen=0
cpid=
start_consumer() {
	cgen=$((cgen + 1))
	timeout 600 "$KS" consume "$(node_sock beta)" kq "$T/acked.$cgen" \
		"$T/stop" 2>>"$T/consume.err" &
	cpid=$!
}

wait_consumer() {
	wait "$cpid"
	wc_rc=$?
	[ $wc_rc -eq 0 ] ||
		it_fail "$1: the consumer failed (status $wc_rc): $(tail -n 3 "$T/consume.err")"
}

ms_sleep() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

t0=$(it_now_ms)
start_consumer
start_senders
ms_sleep 500
kills_a=0
kills_b=0
c=1
while [ $c -le $cycles ]; do
	ms_sleep $((150 + $(it_rand 900)))
	if [ $((c % 2)) -eq 1 ]; then
		victim=alpha
		kills_a=$((kills_a + 1))
	else
		victim=beta
		kills_b=$((kills_b + 1))
	fi
	for n in alpha beta; do
		p=$(node_pid $n)
		if ! it_alive "$p"; then
			it_reap "$p"
			st=$?
			it_fail "cycle $c: the agent of $n died before it was killed (exit status $st; 128+N: signal N): $(tail -n 1 "$(node_log $n)")"
		fi
	done
	kill9_node $victim
	if [ $victim = alpha ]; then
		wait_senders "cycle $c"
		start_agent alpha
		start_senders
	else
		wait_consumer "cycle $c"
		start_agent beta
		start_consumer
	fi
	c=$((c + 1))
done
: >"$T/stop"
wait_senders "the end"
wait_consumer "the end"
it_note "$cycles kills ($kills_a of alpha, $kills_b of beta) in $(($(it_now_ms) - t0)) ms"

cat "$T"/ids.* >"$T/given" 2>/dev/null
given=$(wc -l <"$T/given" | tr -d ' ')
[ "$given" -gt 0 ] || it_fail "no sender was given any id"
dups=$(cut -d ' ' -f 1 "$T/given" | sort | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "alpha gave the same id twice: $dups"

# alpha hands everything over to beta.
t1=$(it_now_ms)
use_node alpha
i=0
while :; do
	out=$("$FERRY" info --json | json_get outbound_messages)
	[ "$out" = 0 ] && break
	[ $i -lt 1200 ] || it_fail "alpha still holds $out messages for beta after 120 s"
	sleep 0.1
	i=$((i + 1))
done
expect_eq "messages left at alpha" \
	"$("$FERRY" info --json | json_get messages)" 0

# The rest of beta's queue; what the last consumer held under a lease
# comes back within 5 s.
use_node beta
expect_eq "beta's dead queue" "$(queue_count dead)" 0
: >"$T/drained"
i=0
while :; do
	timeout 600 "$KS" drain "$FERRY_SOCKET" kq 4 >>"$T/drained" \
		2>"$T/drain.err"
	rc=$?
	cat "$T/drain.err"
	[ $rc -eq 0 ] || it_fail "receiving at beta failed (status $rc)"
	left=$("$FERRY" info --json | json_get messages)
	[ "$left" = 0 ] && break
	[ $i -lt 40 ] || it_fail "beta still holds $left messages after 10 s"
	sleep 0.25
	i=$((i + 1))
done
it_note "drained in $(($(it_now_ms) - t1)) ms"
cat "$T"/acked.* "$T/drained" >"$T/got"
got=$(wc -l <"$T/got" | tr -d ' ')
drained=$(wc -l <"$T/drained" | tr -d ' ')
big=$(grep -c 'received message .* ([0-9]\{7,\} bytes)' "$(node_log beta)")
resumed=$(grep -c 'resuming message' "$(node_log beta)")
it_note "$given ids given, $got messages received at beta ($((got - drained)) during the kills); $big of 1 MiB or more; $resumed transfers resumed after a cut"

dups=$(cut -d ' ' -f 1 "$T/got" | sort | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "messages received twice at beta: $dups"
dups=$(cut -d ' ' -f 2,3 "$T/got" | sort | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "a message of a sender arrived twice (client seq): $dups"
it_ok "no message arrived twice"

sort "$T/given" >"$T/given.sorted"
sort "$T/got" >"$T/got.sorted"
comm -23 "$T/given.sorted" "$T/got.sorted" >"$T/missing"
acked_lost=0
while read -r id cl sq; do
	st=$("$FERRY" status "$id" --json | json_get status)
	if [ "$st" != acked ]; then
		use_node alpha
		it_fail "$id (client $cl, #$sq), accepted by alpha, never reached beta's consumers: '$st' at beta; at alpha: $("$FERRY" status "$id" 2>&1)"
	fi
	acked_lost=$((acked_lost + 1))
done <"$T/missing"
[ $acked_lost -le $kills_b ] ||
	it_fail "$acked_lost messages acked at beta without the consumer hearing it: more than one per kill of beta"
it_note "$acked_lost acked at beta with the answer lost to a kill"
it_ok "every message alpha accepted reached beta's consumers once, payload intact"

# Stored at alpha but killed before the answer: the next one of its
# sender (its sequence number follows the last one given), at most one
# per sender started.
comm -13 "$T/given.sorted" "$T/got.sorted" >"$T/extra"
extra=$(wc -l <"$T/extra" | tr -d ' ')
while read -r id cl sq; do
	last=$(awk -v c="$cl" '$2 == c { if ($3 > m) m = $3; n++ }
		END { print n ? m : -1 }' "$T/given")
	[ "$sq" -eq $((last + 1)) ] ||
		it_fail "$id (client $cl, #$sq) arrived but was never given, and it is not the last send of its sender (#$last was)"
done <"$T/extra"
[ "$extra" -le $((gen * nsenders)) ] ||
	it_fail "$extra unacknowledged messages: more than one per sender"
it_note "$extra stored at alpha but not acknowledged (alpha killed before the answer)"
it_ok "what no sender heard about is the one it had in hand at the kill"
expect_eq "beta's kq is empty" "$(queue_count kq)" 0

stop_node alpha
stop_node beta
it_pass
