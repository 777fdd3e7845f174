#!/bin/sh
# link_basic.sh - two real agents over TCP on loopback: messages sent while
# the peer is down wait and go as soon as it is up, in priority order, big
# and small; the sender keeps "handed to beta"; `ferry peers` tells the
# story (down, backoff, connected, counters, why it ended); traffic both
# ways at once; a TTL that runs out while waiting for the peer sends the
# message to the dead queue of the hop it waits at; a stopping peer says
# CLOSE; receipts (queued, acked, expired) come back to the source.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

T=$IT_TMP
# Renew the sending keys every MiB, so the 5 MB message crosses several
# Noise Rekey()s in both agents (normally every 1 GiB / 2^20 records /
# 10 minutes).
FERRY_TEST_REKEY_BYTES=1048576
export FERRY_TEST_REKEY_BYTES
make_node alpha "[limits]" "sweep_interval = 250ms"
make_node beta "[limits]" "sweep_interval = 250ms"
node_listen alpha "$(it_free_port)"
node_listen beta "$(it_free_port)"
node_peer alpha beta "keepalive = 3s"
node_peer beta alpha "keepalive = 3s"
start_agent alpha
use_node alpha

# --- beta is down: messages wait at alpha
id_bulk=$(echo bulk | "$FERRY" send beta/in --priority 0) || it_fail "send"
id_norm=$(echo normal | "$FERRY" send beta/in) || it_fail "send"
id_urg=$(echo urgent | "$FERRY" send beta/in --urgent) || it_fail "send"
head -c 5000000 /dev/urandom >"$T/big" || it_harness "urandom"
id_big=$("$FERRY" send beta/big "$T/big") || it_fail "send big"
id_ttl=$(echo late | "$FERRY" send beta/in --ttl 1) || it_fail "send ttl"
expect_eq "status while the peer is down" \
	"$("$FERRY" status "$id_norm" --json | json_get status)" outbound
sleep 1.5
j=$("$FERRY" peers --json) || it_fail "ferry peers failed"
expect_eq "peers: beta not connected" "$(echo "$j" | json_get connected)" false
expect_eq "peers: 4 queued for beta (the 5th expired)" \
	"$(echo "$j" | json_get queued_messages)" 4
echo "$j" | json_get last_error | grep -q 'cannot connect' ||
	it_fail "peers: no dial error shown: $j"
it_ok "peers shows the failed dial"
[ -n "$(echo "$j" | json_get next_retry)" ] || it_fail "no next retry: $j"
it_ok "peers shows the next retry"
expect_eq "a TTL that ran out at the hop: dead queue of alpha" \
	"$(queue_count dead)" 1
expect_eq "its status" "$("$FERRY" status "$id_ttl" --json | json_get status)" \
	dead

# --- beta comes up: everything goes, urgent first
start_agent beta
wait_count beta in 3 20 || it_fail "beta has $(use_node beta; queue_count in) of 3"
wait_count beta big 1 20 || it_fail "the big message did not arrive"
use_node beta
expect_eq "first out of beta/in (urgent)" "$("$FERRY" recv in)" urgent
expect_eq "second (normal)" "$("$FERRY" recv in)" normal
expect_eq "third (bulk)" "$("$FERRY" recv in)" bulk
"$FERRY" recv big >"$T/big2" || it_fail "recv big"
cmp -s "$T/big" "$T/big2" || it_fail "the 5 MB payload differs"
it_ok "5 MB payload intact"
grep -q 'sending key renewed' "$(node_log alpha)" ||
	it_fail "alpha never renewed its sending key"
it_ok "the payload crossed Noise Rekey()s"
use_node alpha
for id in "$id_urg" "$id_norm" "$id_bulk" "$id_big"; do
	st=$("$FERRY" status "$id" --json) || it_fail "status $id"
	[ "$(echo "$st" | json_get status)" = handed ] ||
		it_fail "status of $id at alpha: $st"
	[ "$(echo "$st" | json_get peer)" = beta ] || it_fail "handed to? $st"
done
it_ok "alpha: all four 'handed to beta'"
"$FERRY" status "$id_norm" | grep -q 'handed to beta at' ||
	it_fail "status text: $("$FERRY" status "$id_norm")"
it_ok "status text says handed to beta at T"
j=$("$FERRY" peers --json)
expect_eq "peers: connected" "$(echo "$j" | json_get connected)" true
expect_eq "peers: 4 messages out" "$(echo "$j" | json_get messages_out)" 4
expect_eq "peers: nothing queued" "$(echo "$j" | json_get queued_messages)" 0

# --- both ways at once
n=150
(
	i=0
	while [ $i -lt $n ]; do
		echo "a$i" | FERRY_SOCKET=$(node_sock alpha) "$FERRY" send beta/both >/dev/null || exit 1
		i=$((i + 1))
	done
) &
pa=$!
(
	i=0
	while [ $i -lt $n ]; do
		echo "b$i" | FERRY_SOCKET=$(node_sock beta) "$FERRY" send alpha/both >/dev/null || exit 1
		i=$((i + 1))
	done
) &
pb=$!
wait $pa || it_fail "sending on alpha failed"
wait $pb || it_fail "sending on beta failed"
wait_count beta both $n 30 || it_fail "beta/both: $(use_node beta; queue_count both)"
wait_count alpha both $n 30 || it_fail "alpha/both: $(queue_count both)"
sleep 1
expect_eq "beta/both, no duplicates" "$(use_node beta; queue_count both)" $n
expect_eq "alpha/both, no duplicates" "$(queue_count both)" $n
use_node beta
i=0
: >"$T/got"
while [ $i -lt $n ]; do
	"$FERRY" recv both >>"$T/got" || it_fail "recv both"
	i=$((i + 1))
done
expect_eq "beta got a0..a$((n - 1)) in order" \
	"$(cat "$T/got" | tr '\n' ' ')" \
	"$(i=0; while [ $i -lt $n ]; do printf 'a%s ' $i; i=$((i + 1)); done)"
use_node alpha

# --- receipts: queued and acked at beta, and a negative one for a TTL
# that ran out in beta's queue; all recorded at alpha (the source)
id_r=$(echo receipt | "$FERRY" send beta/rc --receipt) || it_fail "send"
id_x=$(echo doomed | "$FERRY" send beta/never --receipt --ttl 2) || it_fail "send"
wait_count beta rc 1 10 || it_fail "receipt test message not delivered"
i=0
while [ $i -lt 50 ]; do
	"$FERRY" status "$id_r" | grep -q 'receipt     queued at beta' && break
	sleep 0.1
	i=$((i + 1))
done
"$FERRY" status "$id_r" | grep -q 'receipt     queued at beta' ||
	it_fail "no 'queued' receipt: $("$FERRY" status "$id_r")"
it_ok "receipt: queued at beta"
expect_eq "receipt test payload" "$(use_node beta; "$FERRY" recv rc)" receipt
i=0
while [ $i -lt 50 ]; do
	"$FERRY" status "$id_r" | grep -q 'receipt     acked at beta' && break
	sleep 0.1
	i=$((i + 1))
done
"$FERRY" status "$id_r" | grep -q 'receipt     acked at beta' ||
	it_fail "no 'acked' receipt: $("$FERRY" status "$id_r")"
it_ok "receipt: acked at beta"
i=0
while [ $i -lt 80 ]; do
	"$FERRY" status "$id_x" | grep -q 'receipt     expired at beta' && break
	sleep 0.1
	i=$((i + 1))
done
"$FERRY" status "$id_x" | grep -q 'receipt     expired at beta' ||
	it_fail "no negative receipt: $("$FERRY" status "$id_x")"
it_ok "negative receipt: expired at beta"
expect_eq "receipts are absorbed, never queued" \
	"$(queue_count ferry.receipts)" 0
expect_eq "no receipt for a message sent without --receipt" \
	"$("$FERRY" status "$id_norm" --json | grep -c receipts)" 0

# --- a stopping peer says CLOSE; alpha knows why
stop_node beta
sleep 0.5
j=$("$FERRY" peers --json)
expect_eq "peers after beta stopped" "$(echo "$j" | json_get connected)" false
echo "$j" | json_get last_error | grep -q 'closed by the peer (code 1' ||
	it_fail "last event: $j"
it_ok "alpha logs beta's CLOSE (shutdown)"
grep -q 'session ended: closed by the peer' "$(node_log alpha)" ||
	it_fail "alpha's log does not say why the session ended"
it_ok "alpha's log says why the session ended"
it_pass
