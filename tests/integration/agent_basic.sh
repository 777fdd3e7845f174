#!/bin/sh
# agent_basic.sh - ferryd's everyday behaviour, through the `ferry` command:
# send/recv/ack, explicit ack and nack with a token, a lease that runs out
# and brings the message back, priorities, a TTL that sends a message to
# the dead queue (logged once), peek, recv --wait woken by a send, the
# status of acked and outbound messages, and a payload that cannot be read
# (its spool file truncated) going to dead instead of blocking its queue.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

# A short sweep, so that leases and TTLs are looked at often.
start_node alpha "[limits]" "sweep_interval = 250ms"
T=$IT_TMP

# --- send, recv, ack
id=$(echo hello | "$FERRY" send alpha/in) || it_fail "ferry send failed"
echo "$id" | grep -qx '[0-9a-f]\{32\}' || it_fail "send printed '$id', not an id"
it_ok "send prints a 32-digit id"
expect_eq "status of a queued message" \
	"$("$FERRY" status "$id" --json | json_get status)" queued
expect_eq "queue count after one send" "$(queue_count in)" 1
got=$("$FERRY" recv in) || it_fail "ferry recv failed"
expect_eq "recv gives the payload" "$got" hello
expect_eq "status after recv (acked)" \
	"$("$FERRY" status "$id" --json | json_get status)" acked
expect_eq "queue count after recv" "$(queue_count in)" 0
"$FERRY" recv in >/dev/null 2>"$T/err"
expect_eq "recv of an empty queue exits 3" $? 3

# --- explicit ack and nack with the lease token
id=$(printf two | "$FERRY" send alpha/in) || it_fail "send failed"
j=$("$FERRY" recv in --no-ack --json) || it_fail "recv --no-ack failed"
expect_eq "recv --no-ack gives the id" "$(echo "$j" | json_get id)" "$id"
tok=$(echo "$j" | json_get token)
[ -n "$tok" ] || it_fail "recv --no-ack --json shows no token: $j"
expect_eq "status while leased" \
	"$("$FERRY" status "$id" --json | json_get status)" leased
"$FERRY" nack "$id" --token "$tok" || it_fail "ferry nack failed"
expect_eq "status after nack" \
	"$("$FERRY" status "$id" --json | json_get status)" queued
j=$("$FERRY" recv in --no-ack --json) || it_fail "recv after nack failed"
expect_eq "the nacked message comes again" "$(echo "$j" | json_get id)" "$id"
expect_eq "its deliveries" "$(echo "$j" | json_get deliveries)" 2
tok=$(echo "$j" | json_get token)
"$FERRY" ack "$id" --token 12345 >/dev/null 2>&1 &&
	it_fail "ack with a wrong token succeeded"
it_ok "ack with a wrong token is refused"
"$FERRY" ack "$id" --token "$tok" || it_fail "ferry ack --token failed"
expect_eq "status after ack --token" \
	"$("$FERRY" status "$id" --json | json_get status)" acked
"$FERRY" ack "$id" --token "$tok" >/dev/null 2>"$T/ack2.err" &&
	it_fail "a second ack succeeded"
grep -q "acknowledged already" "$T/ack2.err" ||
	it_fail "a second ack does not say it was acked: $(cat "$T/ack2.err")"
it_ok "a second ack says: $(cat "$T/ack2.err")"

# --- a lease that runs out brings the message back
id=$(printf lease-me | "$FERRY" send alpha/lq) || it_fail "send failed"
t0=$(it_now_ms)
got=$("$FERRY" recv lq --no-ack --lease 1 2>/dev/null) ||
	it_fail "recv --no-ack --lease 1 failed"
expect_eq "leased payload" "$got" lease-me
"$FERRY" recv lq --peek >/dev/null 2>&1
rc=$?
# (Only meaningful while the lease surely runs: a slow machine skips it.)
if [ $(($(it_now_ms) - t0)) -lt 700 ]; then
	expect_eq "a leased message is hidden from other receivers (exit)" $rc 3
fi
sleep 2.5
j=$("$FERRY" recv lq --json) || it_fail "the message did not come back after its lease"
expect_eq "the same message comes back" "$(echo "$j" | json_get id)" "$id"
expect_eq "deliveries after a lapsed lease" \
	"$(echo "$j" | json_get deliveries)" 2
expect_eq "its payload" "$(echo "$j" | json_get payload_b64)" \
	"$(printf lease-me | base64)"

# --- priorities: sent 0, 3, 7; received 7, 3, 0
for p in 0 3 7; do
	printf "p$p" | "$FERRY" send alpha/prio --priority $p >/dev/null ||
		it_fail "send --priority $p failed"
done
order=
for i in 1 2 3; do
	order="$order $("$FERRY" recv prio)"
done
expect_eq "delivery order by priority" "$order" " p7 p3 p0"

# --- TTL: to the dead queue, logged once
id=$(printf ttl | "$FERRY" send alpha/short --ttl 1s --receipt) ||
	it_fail "send --ttl 1s failed"
sleep 2.5
"$FERRY" recv short >/dev/null 2>&1
expect_eq "an expired message is gone from its queue (exit)" $? 3
expect_eq "status of an expired message" \
	"$("$FERRY" status "$id" --json | json_get status)" dead
n=$(grep -c "message $id .*expired" "$(node_log alpha)")
expect_eq "'expired' lines in the log for it" "$n" 1
j=$("$FERRY" recv dead --json) || it_fail "recv dead failed"
expect_eq "the dead queue has it" "$(echo "$j" | json_get id)" "$id"
expect_eq "dead reason" "$(echo "$j" | json_get dead_reason)" expired
expect_eq "dead payload" "$(echo "$j" | json_get payload_b64)" \
	"$(printf ttl | base64)"
# Drained from dead, it was still never delivered.
expect_eq "status after recv dead" \
	"$("$FERRY" status "$id" --json | json_get status)" dead
expect_eq "its reason after recv dead" \
	"$("$FERRY" status "$id" --json | json_get dead_reason)" expired
"$FERRY" status "$id" >"$T/st"
grep -q "^$id: dead since .*: expired; removed from dead at " "$T/st" ||
	it_fail "status after recv dead says: $(cat "$T/st")"
it_ok "ferry status says dead (expired), removed from dead"
grep -q "receipt *expired at alpha" "$T/st" ||
	it_fail "no expired receipt: $(cat "$T/st")"
grep -q "receipt *acked" "$T/st" &&
	it_fail "an acked receipt for a message drained from dead: $(cat "$T/st")"
it_ok "no acked receipt for it"

# --- peek leaves the message in place
id=$(printf peek-me | "$FERRY" send alpha/pk) || it_fail "send failed"
a=$("$FERRY" recv pk --peek --json | json_get id)
b=$("$FERRY" recv pk --peek --json | json_get id)
expect_eq "first peek" "$a" "$id"
expect_eq "second peek sees the same message" "$b" "$id"
expect_eq "queue count after two peeks" "$(queue_count pk)" 1
expect_eq "status after peeks" \
	"$("$FERRY" status "$id" --json | json_get status)" queued
expect_eq "recv after peeks" "$("$FERRY" recv pk)" peek-me

# --- recv --wait is woken by a send
"$FERRY" recv w --wait=5 >"$T/w.out" 2>"$T/w.err" &
wpid=$!
sleep 0.5
it_alive $wpid || it_fail "recv --wait=5 returned at once: $(cat "$T/w.err")"
printf wake | "$FERRY" send alpha/w >/dev/null || it_fail "send failed"
t0=$(it_now_ms)
wait $wpid
rc=$?
ms=$(($(it_now_ms) - t0))
expect_eq "recv --wait exit status" $rc 0
expect_eq "the waiter's payload" "$(cat "$T/w.out")" wake
[ $ms -lt 2000 ] || it_fail "the waiter still waited $ms ms after the send"
it_ok "the waiter had it at most $ms ms after the send returned"
t0=$(it_now_ms)
"$FERRY" recv w --wait=1 >/dev/null 2>&1
rc=$?
ms=$(($(it_now_ms) - t0))
expect_eq "recv --wait=1 on an empty queue exits" $rc 3
[ $ms -ge 900 ] && [ $ms -lt 5000 ] ||
	it_fail "recv --wait=1 on an empty queue took $ms ms"
it_ok "recv --wait=1 gave up after $ms ms"

# --- status of messages for another node (beta is no peer of alpha:
# --hold keeps it outbound; agent_noroute.sh has the refusal without)
id=$(printf away | "$FERRY" send --hold beta/q) ||
	it_fail "send --hold to beta/q failed"
expect_eq "status of a message for another node" \
	"$("$FERRY" status "$id" --json | json_get status)" outbound
expect_eq "status of an unknown id" \
	"$("$FERRY" status 0123456789abcdef0123456789abcdef --json |
		json_get status)" unknown

# --- a payload that cannot be read goes to dead, and blocks nothing
head -c 1048576 /dev/urandom >"$T/big"
big=$("$FERRY" send alpha/uq <"$T/big") || it_fail "send of 1 MiB failed"
small=$(printf after | "$FERRY" send alpha/uq) || it_fail "send failed"
stop_node alpha
[ -f "$T/alpha/store/spool/$big" ] ||
	it_harness "no spool file for the 1 MiB message: $(ls "$T/alpha/store/spool")"
truncate -s 1000 "$T/alpha/store/spool/$big"
start_agent alpha
"$FERRY" recv uq >"$T/got" 2>"$T/err" ||
	it_fail "recv after an unreadable payload failed: $(cat "$T/err")"
expect_eq "recv goes on past an unreadable payload" "$(cat "$T/got")" after
expect_eq "the unreadable one is dead" \
	"$("$FERRY" status "$big" --json | json_get status)" dead
expect_eq "its reason" \
	"$("$FERRY" status "$big" --json | json_get dead_reason)" unreadable
"$FERRY" status "$big" | grep -q "dead in dead since .*: unreadable" ||
	it_fail "status says: $("$FERRY" status "$big" | head -n 1)"
it_ok "ferry status says dead ... unreadable"
expect_eq "queue count after" "$(queue_count uq)" 0
n=$(grep -c "message $big .*unreadable" "$(node_log alpha)")
expect_eq "log lines naming the unreadable message" "$n" 1
it_note "$(grep "message $big .*unreadable" "$(node_log alpha)")"
"$FERRY" recv dead >/dev/null 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 3 ] ||
	it_fail "recv dead of an unreadable message exited $rc"
expect_eq "it stays in dead" \
	"$("$FERRY" status "$big" --json | json_get status)" dead
"$FERRY" ack "$big" || it_fail "ferry ack of the unreadable message failed"
expect_eq "dead is empty after ack" "$(queue_count dead)" 0

stop_node alpha
it_pass
