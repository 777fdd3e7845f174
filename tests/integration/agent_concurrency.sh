#!/bin/sh
# agent_concurrency.sh - 100 clients, each on its own connection, send
# 500 messages of 100 bytes at the same time (load_clients.c; 1,000 with
# FERRY_TEST_LONG=1); then every message must be there exactly once: the
# 50,000 (100,000) correlations
# listed by browse have no duplicate and cover every client/seq pair, and
# receiving everything with recv+ack (32 concurrent receivers per queue,
# each body checked) gives each exactly once.  Timings are printed, never
# asserted.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

LOAD=$(it_helper load_clients) || exit 99
T=$IT_TMP
nclients=100
nmsgs=500 # FERRY_TEST_LONG=1: 1,000 each, 100,000 in all
[ "$IT_LONG" -eq 1 ] && nmsgs=1000
nqueues=20 # client C sends to load/(C % 20): 5,000 per queue
total=$((nclients * nmsgs))

start_node alpha
t0=$(it_now_ms)
timeout 900 "$LOAD" send "$FERRY_SOCKET" alpha/load $nqueues $nclients \
	$nmsgs 2>"$T/send.err"
rc=$?
cat "$T/send.err"
[ $rc -eq 99 ] && it_harness "load_clients send broke"
[ $rc -eq 0 ] || it_fail "some clients could not send (status $rc)"
it_ok "$nclients clients sent $nmsgs messages each"
it_alive "$(node_pid alpha)" || it_fail "the agent died under load"

# Counts per queue, as the agent reports them.
sum=0
"$FERRY" queues --json >"$T/queues.json" || it_fail "ferry queues failed"
q=0
while [ $q -lt $nqueues ]; do
	qq=$(printf '%02d' $q)
	n=$(tr '{' '\n' <"$T/queues.json" | grep "\"queue\":\"load/$qq\"" |
		json_get messages)
	[ "$n" = $((total / nqueues)) ] ||
		it_fail "queue load/$qq holds '$n' messages, not $((total / nqueues))"
	sum=$((sum + n))
	q=$((q + 1))
done
expect_eq "messages counted by ferry queues" $sum $total

# Every message by its correlation.
t1=$(it_now_ms)
: >"$T/all"
q=0
while [ $q -lt $nqueues ]; do
	qq=$(printf '%02d' $q)
	"$LOAD" browse "$FERRY_SOCKET" "load/$qq" >"$T/browse.$qq" ||
		it_fail "browse of load/$qq failed"
	cat "$T/browse.$qq" >>"$T/all"
	q=$((q + 1))
done
it_note "browsed $total headers in $(($(it_now_ms) - t1)) ms"
expect_eq "messages listed" "$(wc -l <"$T/all" | tr -d ' ')" $total
dups=$(sort "$T/all" | uniq -d | head -n 5)
[ -z "$dups" ] || it_fail "duplicated messages: $dups"
it_ok "no message is listed twice"
good=$(awk -v nc=$nclients -v nm=$nmsgs '
	$1 == "client" && $3 == "seq" && NF == 4 &&
	$2 ~ /^[0-9]+$/ && $2 + 0 < nc && $4 ~ /^[0-9]+$/ && $4 + 0 < nm' \
	"$T/all" | sort -u | wc -l | tr -d ' ')
expect_eq "distinct client/seq pairs in range" "$good" $total

# Receive everything with recv+ack, 32 receivers per queue, each body
# checked against its correlation.
t1=$(it_now_ms)
q=0
while [ $q -lt $nqueues ]; do
	qq=$(printf '%02d' $q)
	timeout 900 "$LOAD" drain "$FERRY_SOCKET" "load/$qq" 32 \
		>"$T/drained.$qq" 2>"$T/drain.err"
	rc=$?
	[ $rc -eq 0 ] ||
		it_fail "receiving load/$qq failed (status $rc): $(cat "$T/drain.err")"
	sort "$T/drained.$qq" >"$T/d.sorted"
	sort "$T/browse.$qq" >"$T/b.sorted"
	cmp -s "$T/d.sorted" "$T/b.sorted" ||
		it_fail "load/$qq: received $(wc -l <"$T/d.sorted") messages, differing from the $(wc -l <"$T/b.sorted") listed"
	q=$((q + 1))
done
it_note "received and acked $total messages in $(($(it_now_ms) - t1)) ms"
it_ok "every message received once, its body intact"
cat "$T"/drained.* | sort | uniq -d >"$T/dups"
[ -s "$T/dups" ] && it_fail "received twice: $(head -n 3 "$T/dups")"
expect_eq "messages left in the store" \
	"$("$FERRY" info --json | json_get messages)" 0
it_note "elapsed: $(($(it_now_ms) - t0)) ms in all"

stop_node alpha
it_pass
