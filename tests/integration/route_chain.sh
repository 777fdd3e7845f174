#!/bin/sh
# route_chain.sh - relays and routes (docs/routing.md) with real agents:
# a chain a -> r1 -> r2 -> b where a-r1 and r1-r2 are TCP sessions and
# r2-b is a stick (a folder).  a knows only r1 (`* = r1`).  Small messages
# and a large one cross exactly once, custody is released hop by hop (no
# node keeps a copy), and the receipts ride back the same way (b -> stick
# -> r2 -> r1 -> a) so that a's `ferry status` says "queued at b".  Then:
# a route loop between r1 and r2 ends in r2's dead queue with "loop" (and
# a "refused" receipt at a), never ping-pongs; a send to a node with no
# route is refused with its own exit status, and with --hold it leaves
# once a route is added by SIGHUP (`ferry why` says "no route" meanwhile);
# a peer with a contact window (window =) is not dialed outside it, and
# `ferry why` says until when.  FERRY_TEST_LONG=1: 2,000 small and a
# 100 MiB message (the issue's figures); else 200 and 8 MiB.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 of CI runs it; the tarball's suite (distcheck) need not

T=$IT_TMP
S=$T/stick
mkdir -p "$S" || it_harness "mkdir"
if [ "${FERRY_TEST_LONG:-0}" = 1 ]; then
	N=2000
	BIG_MB=100
else
	N=200
	BIG_MB=8
fi

make_node a
make_node r1
make_node r2
make_node b
# b and r2 meet only on the stick: peers before r2 listens (no tcp =).
node_peer b r2
node_peer r2 b
node_listen r1 "$(it_free_port)"
node_listen r2 "$(it_free_port)"
node_peer a r1
node_peer r1 a
node_peer r1 r2
node_peer r2 r1
printf '[route]\n* = r1\n' >>"$(node_conf a)"
printf '[route]\nb = r2\nloopy = r2\n' >>"$(node_conf r1)"
printf '[route]\na = r1\nloopy = r1\n' >>"$(node_conf r2)"
printf '[route]\n* = r2\n' >>"$(node_conf b)"
# Signed origins: a and b know each other's card (not peers: nothing
# dials); b's queue strict takes only verified origins from afar.
printf '[directory]\nb = %s\nr2 = %s\n' "$(node_card b)" "$(node_card r2)" \
	>>"$(node_conf a)"
printf '[directory]\na = %s\n[queue strict]\nrequire_verified = yes\n' \
	"$(node_card a)" >>"$(node_conf b)"
for n in a r1 r2 b; do start_agent $n; done

# --- a sends N small messages and a large one to b, with receipts
use_node a
seq 1 $N | sed 's/^/msg-/' >"$T/lines"
i=0
while read -r line; do
	printf '%s' "$line" | "$FERRY" send b/in --receipt >>"$T/ids" ||
		it_fail "send $line"
done <"$T/lines"
head -c $((BIG_MB << 20)) /dev/urandom >"$T/big" || it_harness urandom
big=$("$FERRY" send b/big --receipt "$T/big") || it_fail "send big"
it_ok "a accepted $N small and one $BIG_MB MiB message for b (a route)"

tid=$(printf tracked | "$FERRY" send b/in --track) || it_fail "send --track"
echo signed | "$FERRY" send b/strict >/dev/null || it_fail "send strict"
echo unsigned | ferry_at r1 send b/strict >/dev/null || it_fail "send r1 strict"
N2=$((N + 4))

# a -> r1 -> r2 over TCP: r2 holds them all, a and r1 nothing.
wait_outbound r2 $N2 120 ||
	it_fail "r2 holds $(node_info r2 outbound_messages) of $N2 (r1: $(node_info r1 outbound_messages), a: $(node_info a outbound_messages)); r1 log: $(tail -n 5 "$(node_log r1)")"
wait_outbound r1 0 30 || it_fail "r1 kept $(node_info r1 outbound_messages)"
wait_outbound a 0 30 || it_fail "a kept $(node_info a outbound_messages)"
it_ok "custody went a -> r1 -> r2; a and r1 hold no copy"
ferry_at a status "$big" | grep -q 'r1' ||
	it_fail "a's status of the big one: $(ferry_at a status "$big")"

# r2 -> stick -> b
ferry_at r2 export "$S" >"$T/exp" || it_fail "r2 export: $(cat "$T/exp")"
ferry_at b import "$S" >"$T/imp" || it_fail "b import: $(cat "$T/imp")"
grep -q "imported $N2 messages" "$T/imp" ||
	it_fail "b's import: $(cat "$T/imp")"
# b answers on the stick: custody for r2, receipts for a (routed by r2).
ferry_at b export "$S" >"$T/exp2" || it_fail "b export: $(cat "$T/exp2")"
ferry_at r2 import "$S" >"$T/imp2" || it_fail "r2 import: $(cat "$T/imp2")"
wait_outbound r2 0 30 ||
	it_fail "r2 kept $(node_info r2 outbound_messages) after b's custody"
it_ok "b has them from the stick; r2 released its copies"

use_node b
expect_eq "messages in b/in" "$(queue_count in)" "$((N + 1))"
expect_eq "messages in b/big" "$(queue_count big)" 1
# Origins: a's messages verified (a's signature, a's card in b's
# [directory]); r1's unsigned-for-b... r1 is not in b's directory: its
# message for the strict queue went to dead, "unverified origin".
"$FERRY" recv strict --json >"$T/strict" || it_fail "recv strict"
grep -q '"origin":"verified"' "$T/strict" || it_fail "origin: $(cat "$T/strict")"
grep -q '"via":"a,r1,r2"' "$T/strict" || it_fail "via: $(cat "$T/strict")"
grep -q 'c2lnbmVkCg==' "$T/strict" || it_fail "not a's message: $(cat "$T/strict")"
expect_eq "b/strict after the verified one" "$(queue_count strict)" 0
"$FERRY" recv dead --json >"$T/bdead" || it_fail "nothing in b's dead"
grep -q '"dead_reason":"unverified origin"' "$T/bdead" ||
	it_fail "b's dead letter: $(cat "$T/bdead")"
grep -q '"src":"r1"' "$T/bdead" || it_fail "b's dead letter: $(cat "$T/bdead")"
it_ok "a's origin verified at b (via a,r1,r2); an unverifiable one refused by require_verified"
"$FERRY" recv big >"$T/big.out" || it_fail "recv big"
cmp -s "$T/big" "$T/big.out" || it_fail "the big payload differs"
i=0
: >"$T/got"
while [ $i -le $N ]; do
	"$FERRY" recv in >>"$T/got" || it_fail "recv $i"
	echo >>"$T/got"
	i=$((i + 1))
done
sort "$T/got" >"$T/got.s"
{ cat "$T/lines"; echo tracked; } | sort >"$T/lines.s"
cmp -s "$T/got.s" "$T/lines.s" || it_fail "b did not get each message once"
# A second import of the same stick brings nothing twice.
ferry_at b import "$S" >/dev/null 2>&1
expect_eq "b/in after a second import" "$(queue_count in)" 0
it_ok "each message reached b exactly once, the big one intact"

# The receipts ride back b -> stick -> r2 -> r1 -> a.
i=0
until ferry_at a status "$big" | grep -q 'queued at b'; do
	i=$((i + 1))
	[ $i -lt 300 ] || it_fail "no receipt from b at a: $(ferry_at a status "$big")"
	sleep 0.1
done
# The acks were made after b's export: another stick round.
ferry_at b export "$S" >/dev/null || it_fail "b export 2"
ferry_at r2 import "$S" >/dev/null || it_fail "r2 import 2"
first=$(head -n 1 "$T/ids")
i=0
until ferry_at a status "$first" | grep -q 'acked at b'; do
	i=$((i + 1))
	[ $i -lt 300 ] || it_fail "no ack receipt at a: $(ferry_at a status "$first")"
	sleep 0.1
done
it_ok "a's status says queued and acked at b (receipts relayed back)"
i=0
until ferry_at a track "$tid" | grep -q 'acked    at b'; do
	i=$((i + 1))
	[ $i -lt 300 ] || break # the loop below says what lacks
	sleep 0.1
done
ferry_at a track "$tid" >"$T/track" || it_fail "ferry track"
for want in 'custody  at r1' 'custody  at r2' 'medium   at r2' \
	'queued   at b' 'acked    at b'; do
	grep -q "$want" "$T/track" || it_fail "ferry track lacks '$want': $(cat "$T/track")"
done
ferry_at a track "$tid" --json | grep -q '"event":"custody","node":"r2"' ||
	it_fail "ferry track --json: $(ferry_at a track "$tid" --json)"
it_ok "ferry track shows every hop: custody at r1 and r2, on a medium at r2, queued and acked at b"

# --- a route loop: r1 sends loopy to r2, r2 back to r1: dead at r2.
lid=$(echo loop | ferry_at a send loopy/q --receipt) || it_fail "send loopy"
i=0
until [ "$(ferry_at r2 queues --json | tr '{' '\n' | grep -c '"queue":"dead"')" = 1 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || it_fail "nothing in r2's dead queue: $(tail -n 5 "$(node_log r2)")"
	sleep 0.1
done
ferry_at r2 recv dead --json >"$T/dead" || it_fail "recv dead at r2"
grep -q '"dead_reason":"loop"' "$T/dead" || it_fail "r2's dead letter: $(cat "$T/dead")"
ferry_at r1 queues --json | grep -q '"queue":"dead"' &&
	it_fail "r1 dead-lettered it too"
wait_outbound r1 0 10 || it_fail "the loop message stays at r1"
i=0
until ferry_at a status "$lid" | grep -q 'refused\|dead'; do
	i=$((i + 1))
	[ $i -lt 300 ] || it_fail "no refused receipt at a: $(ferry_at a status "$lid")"
	sleep 0.1
done
it_ok "a loop ends in r2's dead queue with \"loop\"; a hears of it"

# --- no route: refused with its own exit status; --hold waits for one
ferry_at r1 send nowhere/q </dev/null >"$T/nr" 2>&1
rc=$?
expect_eq "exit status of a send with no route" "$rc" 8
grep -q 'no \[route\]' "$T/nr" || it_fail "no clear message: $(cat "$T/nr")"
hid=$(echo held | ferry_at r1 send --hold nowhere/q) || it_fail "send --hold"
sleep 1
expect_eq "r1 keeps the held message" "$(node_info r1 outbound_messages)" 1
ferry_at r1 why "$hid" | grep -q 'no route to nowhere' ||
	it_fail "ferry why: $(ferry_at r1 why "$hid")"
printf 'nowhere = r2\n' >>"$(node_conf r1)"
printf 'nowhere = b\n' >>"$(node_conf r2)"
# r2 first, and r1 only once r2 has its route: else r1 may hand it over
# before r2 reloaded, r2 refuses it ("no route") and r1 dead-letters it.
n=$(grep -c "SIGHUP: configuration reloaded" "$(node_log r2)")
kill -HUP "$(node_pid r2)"
i=0
until [ "$(grep -c "SIGHUP: configuration reloaded" "$(node_log r2)")" -gt "$n" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || it_fail "r2 did not reload: $(tail -n 3 "$(node_log r2)")"
	sleep 0.1
done
kill -HUP "$(node_pid r1)"
wait_outbound r1 0 30 ||
	it_fail "the held message did not leave after SIGHUP: $(ferry_at r1 status "$hid")"
wait_outbound r2 1 30 || it_fail "r2 does not hold it"
it_ok "no route: exit 8 and a clear message; --hold leaves once routed"

# --- contact windows: a dials r1 only inside one; ferry why says so.
tomorrow=$(date -u -d tomorrow +%a | tr 'A-Z' 'a-z')
stop_node a
sed -i "s/^retry_max = 2s\$/retry_max = 2s\nwindow = $tomorrow 00:00-00:01 UTC/" "$(node_conf a)"
grep -q "^window = $tomorrow" "$(node_conf a)" || it_harness "no window line"
start_agent a
wid=$(echo windowed | ferry_at a send b/in) || it_fail "send windowed"
sleep 2
expect_eq "a keeps it outside the window" "$(node_info a outbound_messages)" 1
ferry_at a why "$wid" | grep -q 'outside the contact windows of next hop r1: next at' ||
	it_fail "ferry why outside a window: $(ferry_at a why "$wid")"
grep -q 'outside its contact windows' "$(node_log a)" ||
	it_fail "no log line about the window"
stop_node a
sed -i '/^window = /d' "$(node_conf a)"
start_agent a
wait_outbound a 0 30 || it_fail "it did not leave once the window was gone"
it_ok "window =: no dial outside it (ferry why and the log say until when)"
it_pass
