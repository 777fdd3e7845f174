#!/bin/sh
# route_why_quota.sh - a next hop with no room (docs/routing.md section 6,
# docs/hop.md 4.1): a sends to b over TCP while b's queue `in` holds at
# most 2 messages.  b refuses the third with REFUSE "queue full" (the
# session stays up: a message for another queue of b still arrives), a
# keeps it outbound and `ferry why` on a says "next hop b refused it for
# now: queue in is full there (since T); next try at T" (a large message,
# refused at its commit; a small one sent after it waits with it and does
# not cross the link).  Offered again and refused again, the "since"
# stays.  Once b drains the queue (`ferry recv`), the held messages
# arrive, exactly once each.  About 5 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node a
make_node b
node_listen b "$(it_free_port)"
node_peer a b
node_peer b a
printf '[queue in]\nmax_messages = 2\n' >>"$(node_conf b)"
start_agent b
start_agent a

# --- a sends until b refuses: two fit, then a large one (streamed, found
# over the quota at its commit) does not
for i in 1 2; do
	echo "m$i" | ferry_at a send b/in >>"$T/ids" || it_fail "send m$i"
done
wait_count b in 2 10 || it_fail "b's queue in does not hold 2"
head -c 300000 /dev/urandom >"$T/big" || it_harness urandom
big=$(ferry_at a send b/in "$T/big" 2>"$T/send.err") ||
	it_fail "send big: $(cat "$T/send.err")"
at='[0-9-]* [0-9:]* UTC'
want="^[0-9a-f]*: next hop b refused it for now: queue in is full there (since $at); next try at $at\$"
why_wait() { # ID: until `ferry why ID` at a is the quota line
	ww_i=0
	until ferry_at a why "$1" | grep -q "$want"; do
		ww_i=$((ww_i + 1))
		[ $ww_i -lt 100 ] || it_fail "ferry why: $(ferry_at a why "$1")"
		sleep 0.1
	done
}
why_wait "$big"
why1=$(ferry_at a why "$big")
it_ok "ferry why: ${why1#* }"
grep -q 'peer b: queue in is full there' "$(node_log a)" ||
	it_fail "no log line at a about the full queue"

# A small one for that queue waits with it, without crossing the link.
held=$(echo m3 | ferry_at a send b/in) || it_fail "send m3"
why_wait "$held"
expect_eq "a keeps both" "$(node_info a outbound_messages)" 2

# Only that queue waits: the session stays up, another queue gets its
# message.
echo other | ferry_at a send b/other >/dev/null || it_fail "send other"
wait_count b other 1 10 || it_fail "b/other did not get its message"
grep -q 'closed by the peer' "$(node_log a)" &&
	it_fail "b closed the session: $(grep 'closed by the peer' "$(node_log a)" | head -n 1)"
it_ok "the session stays up for the other queues"

# Offered again (the oldest, alone) and refused again: the same "since".
i=0
until [ "$(grep -c "message $big for b/in not stored" "$(node_log b)")" -ge 2 ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || it_fail "a did not offer the large one again"
	sleep 0.1
done
why_wait "$big"
why2=$(ferry_at a why "$big")
expect_eq "the same since" "$(echo "$why2" | sed 's/.*(since \(.*\)).*/\1/')" \
	"$(echo "$why1" | sed 's/.*(since \(.*\)).*/\1/')"
expect_eq "m3 never crossed" "$(grep -c "message $held for" "$(node_log b)")" 0
expect_eq "a still keeps both" "$(node_info a outbound_messages)" 2

# --- b drains its queue: the held messages come, once each
use_node b
mkdir "$T/out" || it_harness mkdir
"$FERRY" recv in --count 0 --out "$T/out" >"$T/got" || it_fail "recv at b"
expect_eq "b had m1 and m2" "$(cat "$T/out"/* | sort | tr '\n' ' ')" "m1 m2 "
wait_count b in 2 10 ||
	it_fail "the held messages did not come once b had room: $(ferry_at a why "$held")"
"$FERRY" recv in --count 0 --out "$T/out" >>"$T/got" || it_fail "recv the held"
sleep 1
expect_eq "nothing more at b" "$(queue_count in)" 0
expect_eq "a holds nothing" "$(node_info a outbound_messages)" 0
expect_eq "each message exactly once" "$(ls "$T/out" | sort | tr '\n' ' ')" \
	"$( (cat "$T/ids"; echo "$big"; echo "$held") | sort | tr '\n' ' ')"
expect_eq "the held small one" "$(cat "$T/out/$held")" m3
cmp -s "$T/big" "$T/out/$big" || it_fail "the large one differs"
for id in "$held" "$big"; do
	ferry_at a status "$id" | grep -q 'handed to b' ||
		it_fail "a's status of $id: $(ferry_at a status "$id")"
done
grep -q 'peer b: queue in has room again there' "$(node_log a)" ||
	it_fail "no log line at a about the room"
it_pass
