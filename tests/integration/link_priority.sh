#!/bin/sh
# link_priority.sh - two agents on loopback.  An urgent (priority 7) 1 KiB
# message sent on alpha while a large one (priority 3) is on the wire to
# beta overtakes it: it is in beta's queue within one second (the
# latency is printed), while the large one is still in flight, and the
# large one still arrives whole (cmp).  Also: beta offline while alpha
# sends, started later: delivered; traffic both ways at once (N messages
# each way, every one arrives once); both agents dialing each other at
# once (both have messages for the other; started at the same moment, and
# forced by holding one agent with SIGSTOP while the other dials it): all
# delivered, and both keep the same connection, the one the node with
# the lower node id started ("both nodes dialed" / "replaced by a newer
# session" in the logs).
# The large message is 256 MiB (1 GiB with FERRY_TEST_LONG=1, which also
# sends 500 messages each way and holds 10 dialing rounds), on a link
# limited to 64 MiB/s; skipped with less than 5 times that free under
# ${TMPDIR:-/tmp}.  About 45 s on 2 cores.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
mib=256
nboth=100
rounds=3
if [ $IT_LONG -eq 1 ]; then
	mib=1024
	nboth=500
	rounds=10
fi
size=$((mib * 1024 * 1024))
need_kib=$((5 * mib * 1024))
free_kib=$(df -Pk "$T" | awk 'NR == 2 { print $4 }')
[ -n "$free_kib" ] || it_harness "cannot tell the free space of $T"
if [ "$free_kib" -lt $need_kib ]; then
	it_skip "a $mib MiB message needs $((need_kib / 1024)) MiB free under ${TMPDIR:-/tmp}; only $((free_kib / 1024)) MiB are"
fi

make_node alpha
make_node beta
node_listen alpha "$(it_free_port)"
node_listen beta "$(it_free_port)"
# 64 MiB/s at most from alpha: the large one stays on the wire long
# enough to be overtaken, on a fast machine too.
node_peer alpha beta "keepalive = 3s" "rate = 64M"
node_peer beta alpha "keepalive = 3s"

# A field of NAME's entry in `ferry peers --json` of the agent at $FERRY_SOCKET.
peer_field() {
	"$FERRY" peers --json | tr '{' '\n' | grep "\"peer\":\"$1\"" |
		json_get "$2"
}

# --- beta offline when alpha sends; started later: delivered
start_agent alpha
use_node alpha
ids=
for i in 1 2 3; do
	id=$(echo "offline $i" | "$FERRY" send beta/in) || it_fail "send $i to beta (down)"
	ids="$ids $id"
done
sleep 1
expect_eq "status while beta is down" \
	"$("$FERRY" status "$id" --json | json_get status)" outbound
start_agent beta
wait_count beta in 3 20 || it_fail "beta has $(use_node beta; queue_count in) of 3 messages sent while it was down"
use_node alpha
for id in $ids; do
	st=$("$FERRY" status "$id" --json | json_get status)
	expect_eq "alpha: $id after beta came up" "$st" handed
done
use_node beta
got=$("$FERRY" recv in -n 0 | sort | tr '\n' ' ')
expect_eq "what beta got" "$got" "offline 1 offline 2 offline 3 "

# --- an urgent message overtakes a large one on the wire
t0=$(it_now_ms)
head -c $size /dev/urandom >"$T/big" || it_harness "cannot write $mib MiB under $T"
head -c 1024 /dev/urandom >"$T/urgent" || it_harness "urandom"
it_note "$mib MiB of random data made in $(($(it_now_ms) - t0)) ms"
use_node beta
in0=$(peer_field alpha bytes_in)
use_node alpha
t0=$(it_now_ms)
big_id=$("$FERRY" send beta/bulk "$T/big") || it_fail "sending $mib MiB on alpha"
t1=$(it_now_ms)
it_note "$mib MiB stored at alpha in $((t1 - t0)) ms"
# Really on the wire: in flight to beta at alpha, and beta has taken at
# least 8 MiB of it.
i=0
while :; do
	st=$("$FERRY" status "$big_id" --json | json_get status)
	use_node beta
	in1=$(peer_field alpha bytes_in)
	use_node alpha
	[ "$st" = inflight ] && [ $((in1 - in0)) -ge $((8 << 20)) ] && break
	[ "$st" = outbound ] || [ "$st" = inflight ] ||
		it_fail "the large message is '$st' at alpha before the urgent one was sent (too fast to overtake)"
	[ $i -lt 600 ] || it_fail "the large message is not on the wire after 30 s ($st, $((in1 - in0)) bytes at beta)"
	sleep 0.05
	i=$((i + 1))
done
it_note "the large message is in flight: beta has taken $(((in1 - in0) >> 20)) MiB, $(($(it_now_ms) - t1)) ms after it was stored"
(
	FERRY_SOCKET=$(node_sock beta) "$FERRY" recv urgent --wait=20 \
		>"$T/urgent.got" 2>"$T/urgent.err"
	echo $? >"$T/urgent.rc"
	it_now_ms >"$T/urgent.t"
) &
rpid=$!
sleep 0.3
t0=$(it_now_ms)
urg_id=$("$FERRY" send --urgent beta/urgent "$T/urgent") || it_fail "sending the urgent message"
t1=$(it_now_ms)
wait $rpid
[ "$(cat "$T/urgent.rc")" = 0 ] || it_fail "beta did not get the urgent message: $(cat "$T/urgent.err")"
lat=$(($(cat "$T/urgent.t") - t0))
st=$("$FERRY" status "$big_id" --json | json_get status)
use_node beta
in2=$(peer_field alpha bytes_in)
use_node alpha
it_note "urgent 1 KiB: send returned in $((t1 - t0)) ms, in beta's queue (ferry recv --wait returned) $lat ms after the send began; the large one was at $(((in2 - in0) >> 20)) of $mib MiB"
cmp -s "$T/urgent" "$T/urgent.got" || it_fail "the urgent payload differs"
[ $lat -le 1000 ] ||
	it_fail "the urgent message took $lat ms to reach beta's queue (more than 1 s) during the large transfer"
it_ok "urgent message in beta's queue within 1 s ($lat ms)"
[ "$st" = inflight ] ||
	it_fail "the large message was '$st' when the urgent one arrived: it did not overtake"
it_ok "it overtook the large one, still in flight"
expect_eq "urgent: status at alpha" \
	"$("$FERRY" status "$urg_id" --json | json_get status)" handed

t0=$(it_now_ms)
wait_count beta bulk 1 600 || it_fail "the large message did not reach beta"
use_node alpha
expect_eq "large: status at alpha" \
	"$("$FERRY" status "$big_id" --json | json_get status)" handed
use_node beta
"$FERRY" recv bulk -o "$T" >"$T/bulk.path" || it_fail "receiving the large message at beta"
cmp -s "$T/big" "$(cat "$T/bulk.path")" || it_fail "the large message differs"
it_ok "the $mib MiB message arrived whole"
rm -f "$T/big" "$(cat "$T/bulk.path")"

# --- traffic both ways at once
sendn() { # NODE DEST PREFIX
	use_node "$1"
	i=1
	while [ $i -le $nboth ]; do
		echo "$3-$i" | "$FERRY" send "$2" --correlation "$3-$i" \
			>/dev/null || exit 1
		i=$((i + 1))
	done
}
# recv_check NODE QUEUE PREFIX: QUEUE holds PREFIX-1..N, each once (by
# id, correlation and payload)
recv_check() {
	use_node "$1"
	i=1
	while [ $i -le $nboth ]; do
		echo "$3-$i"
		i=$((i + 1))
	done | sort >"$T/want"
	"$FERRY" recv "$2" --peek -n $((nboth + 10)) --json >"$T/peek" ||
		it_fail "peeking at $2 on $1"
	sed -n 's/^{"id":"\([0-9a-f]*\)".*$/\1/p' "$T/peek" | sort >"$T/ids"
	expect_eq "$2 at $1: messages" "$(wc -l <"$T/ids" | tr -d ' ')" $nboth
	[ -z "$(uniq -d "$T/ids")" ] ||
		it_fail "$2 at $1: ids twice: $(uniq -d "$T/ids" | head -n 3)"
	sed -n 's/^.*"correlation":"\([^"]*\)".*$/\1/p' "$T/peek" |
		sort >"$T/corr"
	"$FERRY" recv "$2" -n 0 >"$T/got" || it_fail "receiving $2 at $1"
	sort "$T/got" >"$T/payloads"
	for f in corr payloads; do
		cmp -s "$T/$f" "$T/want" ||
			it_fail "$2 at $1: $f are not each of $3-1..$nboth once: $(diff "$T/want" "$T/$f" | head -n 4 | tr '\n' ' ')"
	done
	it_ok "$2 at $1: $nboth messages, each once, payloads right"
}
t0=$(it_now_ms)
(sendn alpha beta/both a) &
p1=$!
(sendn beta alpha/both b) &
p2=$!
wait $p1 || it_fail "a send on alpha failed"
wait $p2 || it_fail "a send on beta failed"
wait_count beta both $nboth 60 || it_fail "beta has $(use_node beta; queue_count both) of $nboth"
wait_count alpha both $nboth 60 || it_fail "alpha has $(use_node alpha; queue_count both) of $nboth"
it_note "$nboth messages each way at once, all there in $(($(it_now_ms) - t0)) ms"
recv_check beta both a
recv_check alpha both b

# --- both dialing at once
fpr_a=$("$FERRY" keygen --dir "$(node_dir alpha)" --json | json_get fingerprint)
fpr_b=$("$FERRY" keygen --dir "$(node_dir beta)" --json | json_get fingerprint)
# The node id order is the order of the fingerprints' base32 values.
ord() { echo "$1" | tr -d '-' | tr 'a-z2-7' 'A-Za-f'; }
if [ "$(printf '%s\n%s\n' "$(ord "$fpr_a")" "$(ord "$fpr_b")" | sort |
	head -n 1)" = "$(ord "$fpr_a")" ]; then
	lower=alpha
	higher=beta
else
	lower=beta
	higher=alpha
fi
it_note "fingerprints: alpha $fpr_a, beta $fpr_b: $lower has the lower node id"

# Queue k messages on each for the other while the other is down.
k=10
queue_both() {
	stop_node alpha
	stop_node beta
	for qb in alpha:beta beta:alpha; do
		qb_from=${qb%:*}
		qb_to=${qb#*:}
		start_agent "$qb_from"
		qb_i=1
		while [ $qb_i -le $k ]; do
			echo "$1 $qb_from $qb_i" | "$FERRY" send "$qb_to/sim" \
				>/dev/null || it_fail "send on $qb_from"
			qb_i=$((qb_i + 1))
		done
		stop_node "$qb_from"
	done
}
# Start the agents of alpha and beta at the same moment.
start_pair() {
	for sp in alpha beta; do
		"$FERRYD" -c "$(node_conf $sp)" >>"$(node_log $sp)" 2>&1 &
		echo $! >"$(node_dir $sp)/.agent.pid"
		echo $! >>"$IT_TMP/.pids"
	done
	for sp in alpha beta; do
		wait_ready $sp "$(node_pid $sp)" ||
			it_fail "the agent of $sp did not answer within 10 s"
	done
}
resolved=0
r=1
while [ $r -le $rounds ]; do
	queue_both "round $r"
	la=$(wc -l <"$(node_log alpha)")
	lb=$(wc -l <"$(node_log beta)")
	if [ $r -eq 1 ]; then
		how="started at the same moment"
		start_pair
	else
		# beta, held, has tried alpha and is due to try again; alpha
		# dials beta, whose kernel completes the TCP handshake; beta,
		# let go, answers alpha and dials it at the same time.
		how="beta held with SIGSTOP while alpha dials it"
		start_agent beta
		sleep 0.3
		kill -STOP "$(node_pid beta)"
		start_agent alpha
		sleep 1
		kill -CONT "$(node_pid beta)"
	fi
	wait_count beta sim $k 30 || it_fail "round $r: beta has $(use_node beta; queue_count sim) of $k"
	wait_count alpha sim $k 30 || it_fail "round $r: alpha has $(use_node alpha; queue_count sim) of $k"
	sleep 0.5
	use_node alpha
	da=$(peer_field beta dialed_by)
	use_node beta
	db=$(peer_field alpha dialed_by)
	new_a=$(tail -n +$((la + 1)) "$(node_log alpha)")
	new_b=$(tail -n +$((lb + 1)) "$(node_log beta)")
	both=$(printf '%s\n%s\n' "$new_a" "$new_b" |
		grep -c 'both nodes dialed\|replaced by a newer session')
	ups=$(printf '%s\n%s\n' "$new_a" "$new_b" | grep -c 'session up')
	it_note "round $r ($how): alpha's session dialed by $da, beta's by $db; $ups sessions up, $both simultaneous-dial resolutions logged"
	case $da:$db in
	us:peer | peer:us) ;;
	*) it_fail "round $r: alpha and beta disagree on their connection (alpha: dialed by '$da', beta: '$db')" ;;
	esac
	if [ "$both" -gt 0 ]; then
		resolved=$((resolved + 1))
		use_node $lower
		expect_eq "round $r: both dialed; $lower (the lower id) keeps the connection it dialed" \
			"$(peer_field $higher dialed_by)" us
	fi
	for n in alpha beta; do
		use_node $n
		c=$("$FERRY" recv sim -n 0 | grep -c "^round $r ")
		expect_eq "round $r: messages at $n" "$c" $k
	done
	r=$((r + 1))
done
[ $resolved -gt 0 ] ||
	it_fail "in $rounds rounds the logs never showed both nodes dialing at once"
it_ok "both dialing at once: resolved $resolved times of $rounds, the same connection kept on both sides"

stop_node alpha
stop_node beta
it_pass
