#!/bin/sh
# route_group.sh - groups (docs/groups.md) with real agents: a source s,
# a relay r and five members m1..m5 behind it, all over TCP.  s knows the
# members only from its [directory] and reaches them by `m* = r`; its
# [group alerts] is "m*, s".  `ferry send @alerts/q` makes two copies at
# s: its own, and ONE for r, which r splits into five (one per member,
# each with a custody of its own).  Every member gets each message exactly
# once (a small one and a streamed 3 MiB one), r and s keep nothing, and
# s's status lists a "queued" receipt from every member (ferry track).
# kill -9 of r while it takes and splits a burst loses and duplicates
# nothing.  A
# group that does not exist is refused with the no-route exit status, and
# --seal with a group is refused.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not

T=$IT_TMP
M="m1 m2 m3 m4 m5"
make_node r
node_listen r "$(it_free_port)"
make_node s
node_peer s r
node_peer r s
for m in $M; do
	make_node $m
	node_peer $m r
	node_peer r $m
	printf '[route]\n* = r\n' >>"$(node_conf $m)" # receipts to s
done
{
	printf '[route]\nm* = r\n[directory]\n'
	for m in $M; do printf '%s = %s\n' $m "$(node_card $m)"; done
	printf '[group alerts]\nmembers = m*, s\n'
} >>"$(node_conf s)"
for n in r s $M; do start_agent $n; done

use_node s
id=$(printf 'to every member' | "$FERRY" send @alerts/q --receipt) ||
	it_fail "send @alerts/q"
head -c $((3 << 20)) /dev/urandom >"$T/big" || it_harness urandom
big=$("$FERRY" send @alerts/big --receipt "$T/big") || it_fail "send big"
it_ok "s accepted two messages for @alerts"

for m in $M; do
	wait_count $m q 1 30 || it_fail "$m/q holds $(ferry_at $m queues --json)"
	wait_count $m big 1 30 || it_fail "$m/big: $(ferry_at $m queues --json); r: $(tail -n 5 "$(node_log r)")"
done
wait_count s q 1 10 || it_fail "s's own copy"
wait_outbound r 0 30 || it_fail "r kept $(node_info r outbound_messages)"
wait_outbound s 0 30 || it_fail "s kept $(node_info s outbound_messages)"
it_ok "every member (and s itself) has both; r and s keep no copy"

# One copy of each crossed s -> r: r received 2 messages from s.
msgs=$(ferry_at r peers --json | tr '{' '\n' | grep '"peer":"s"' |
	json_get messages_in)
expect_eq "messages r received from s" "$msgs" 2

for m in $M; do
	use_node $m
	"$FERRY" recv q >"$T/q.$m" || it_fail "recv at $m"
	expect_eq "$m's payload" "$(cat "$T/q.$m")" "to every member"
	"$FERRY" recv big >"$T/big.$m" || it_fail "recv big at $m"
	cmp -s "$T/big" "$T/big.$m" || it_fail "$m's big payload differs"
	expect_eq "$m/q after one recv" "$(queue_count q)" 0
	expect_eq "$m/big after one recv" "$(queue_count big)" 0
done
it_ok "each member received each message once, intact"

# Receipts: s hears "queued" from every member, on the id it printed.
use_node s
i=0
while :; do
	"$FERRY" track "$id" >"$T/status"
	n=$(grep -c 'queued' "$T/status")
	[ "$n" -ge 6 ] && break
	i=$((i + 1))
	[ $i -lt 100 ] || it_fail "s's status of $id: $(cat "$T/status")"
	sleep 0.1
done
for m in $M s; do
	grep "queued" "$T/status" | grep -q " $m" || it_fail "no receipt from $m: $(cat "$T/status")"
done
grep -q '@alerts' "$T/status" || it_fail "status: $(cat "$T/status")"
it_ok "s's status of the group message lists every member's receipt"

# kill -9 of the relay while it takes and splits a burst: members down,
# s sends 20 group messages, r is killed at a random moment of it and
# restarted; then every member gets each of the 20 exactly once.
for m in $M; do stop_node $m; done
use_node s
(
	k=1
	while [ $k -le 20 ]; do
		echo "burst $k" | "$FERRY" send @alerts/burst >/dev/null ||
			echo "send burst $k failed" >>"$T/burst.err"
		k=$((k + 1))
	done
) &
burst=$!
sleep "0.$(it_rand 4)"
kill9_node r
wait $burst
[ ! -s "$T/burst.err" ] || it_fail "$(cat "$T/burst.err")"
start_agent r
use_node s
wait_outbound s 0 30 || it_fail "s kept $(node_info s outbound_messages) of the burst"
for m in $M; do start_agent $m; done
for m in $M; do
	wait_count $m burst 20 30 || it_fail "$m/burst: $(ferry_at $m queues --json); r: $(tail -n 5 "$(node_log r)")"
done
wait_outbound r 0 30 || it_fail "r kept $(node_info r outbound_messages) after the burst"
sleep 0.5
for m in $M; do
	use_node $m
	expect_eq "$m/burst after the relay's kill -9" "$(queue_count burst)" 20
done
it_ok "after kill -9 of the relay mid-split, each member has the 20 once"

# Refusals: an unknown group, and --seal.
use_node s
echo x | "$FERRY" send @nobody/q 2>"$T/err"
expect_eq "exit status of a send to an unknown group" "$?" 8
grep -q 'no \[group nobody\]' "$T/err" || it_fail "error: $(cat "$T/err")"
echo x | "$FERRY" send --seal @alerts/q 2>"$T/err" && it_fail "--seal to a group"
grep -q 'group' "$T/err" || it_fail "error: $(cat "$T/err")"
it_ok "an unknown group and --seal with a group are refused"
it_pass
