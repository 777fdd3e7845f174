#!/bin/sh
# link_faults.sh - a session cut 150 times under a mixed load.  alpha
# dials beta through fault_proxy, which cuts each connection (both sides
# closed) after a random number of bytes, counting both directions, until
# it has cut 150 of them, then forwards transparently.  Meanwhile alpha
# holds 10,000 small messages (load_clients: 5,000 of 200 bytes and 5,000
# of 1,800, each body its correlation "client C seq S" padded) and two
# of 50 MiB (random files).  Checks: every message is at beta exactly once
# (counts per queue, then every small one received with its body checked,
# none twice, every index there), the big ones byte-identical (cmp), alpha
# keeps nothing outbound and says "handed to beta", and the bytes alpha
# sent through the proxy, less framing and handshakes, exceed the payload
# bytes by less than 10% (everything sent twice after a cut).
# FERRY_TEST_SEED=S repeats the proxy's choices (printed as "# seed");
# FERRY_TEST_CUTS=N cuts N times instead (0: the cost of framing alone).
# FERRY_TEST_LONG=1: 1,000 cuts (every 128 KiB on average), 30,000 small
# messages, five of 50 MiB.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

PROXY=$(it_helper fault_proxy) || exit 99
LOAD=$(it_helper load_clients) || exit 99
T=$IT_TMP
ncuts=150
nbig=2
per_client=2500 # 2 clients of each size
if [ $IT_LONG -eq 1 ]; then
	ncuts=1000
	nbig=5
	per_client=7500
fi
ncuts=${FERRY_TEST_CUTS:-$ncuts}
nsmall=$((4 * per_client))
big=52428800
# Cuts every 512 KiB on average: the 150 cuts fall within the ~120 MB.
cut_max=1048576
[ $IT_LONG -eq 1 ] && cut_max=262144
seed=${FERRY_TEST_SEED:-$(it_rand 1000000000)}
it_note "seed $seed: $ncuts cuts after 1..$cut_max bytes, $nsmall small messages, $nbig of 50 MiB"

# --- beta listens; alpha dials it through the proxy
make_node alpha
make_node beta
beta_port=$(it_free_port)
node_listen beta "$beta_port"
node_peer beta alpha "keepalive = 3s"
"$PROXY" --target "$beta_port" --port-file "$T/proxy.port" \
	--stats "$T/proxy.stats" --cut-random "1:$cut_max" \
	--max-cuts $ncuts --seed "$seed" >/dev/null 2>"$T/proxy.log" &
proxy_pid=$!
it_at_exit "kill $proxy_pid 2>/dev/null"
it_wait_proxy $proxy_pid "$T/proxy.port" "$T/proxy.log"
proxy_port=$(cat "$T/proxy.port")
{
	printf '[peer beta]\nkey = %s\n' "$(node_card beta)"
	printf 'tcp = 127.0.0.1:%s\n' "$proxy_port"
	printf 'retry_min = 20ms\nretry_max = 200ms\nkeepalive = 3s\n'
} >>"$(node_conf alpha)"
start_agent beta
start_agent alpha
use_node alpha

# Proxy counter NAME.
pstat() {
	sed -n "s/^$1 //p" "$T/proxy.stats"
}

# --- the load: big messages and small ones at once
t0=$(it_now_ms)
i=1
while [ $i -le $nbig ]; do
	head -c $big /dev/urandom >"$T/big.$i" || it_harness "urandom"
	i=$((i + 1))
done
i=1
bpids=
while [ $i -le $nbig ]; do
	"$FERRY" send beta/big "$T/big.$i" >"$T/big.$i.id" 2>"$T/big.$i.err" &
	bpids="$bpids $!"
	i=$((i + 1))
done
"$LOAD" send "$FERRY_SOCKET" beta/s 2 2 $per_client 200 2>"$T/load1.err" &
l1=$!
"$LOAD" send "$FERRY_SOCKET" beta/m 2 2 $per_client 1800 2>"$T/load2.err" &
l2=$!
for p in $bpids; do
	wait "$p" || it_fail "sending a big message failed: $(cat "$T"/big.*.err)"
done
wait $l1 || it_fail "load_clients (200 bytes) failed: $(cat "$T/load1.err")"
wait $l2 || it_fail "load_clients (1,800 bytes) failed: $(cat "$T/load2.err")"
it_note "queued at alpha in $(($(it_now_ms) - t0)) ms"

# "QUEUE COUNT" for each queue of beta, one a line.
beta_counts() {
	FERRY_SOCKET=$(node_sock beta) "$FERRY" queues --json | tr '{' '\n' |
		sed -n 's/^"queue":"\([^"]*\)","messages":\([0-9]*\).*/\1 \2/p'
}

# --- wait until beta has everything (fail if nothing moves for 60 s)
want="s/00:$per_client s/01:$per_client m/00:$per_client m/01:$per_client big:$nbig"
last=
moved=$(it_now_ms)
while :; do
	for a in alpha beta; do
		it_alive "$(node_pid $a)" || it_fail "the agent of $a died"
	done
	beta_counts >"$T/counts" || it_fail "ferry queues on beta failed"
	done_all=1
	now=
	for qn in $want; do
		n=$(sed -n "s|^${qn%:*} ||p" "$T/counts")
		now="$now ${n:-0}"
		[ "${n:-0}" -ge "${qn#*:}" ] || done_all=0
	done
	[ $done_all -eq 1 ] && break
	now="$now $(pstat c2s_bytes)"
	if [ "$now" != "$last" ]; then
		moved=$(it_now_ms)
		last=$now
	elif [ $(($(it_now_ms) - moved)) -gt 60000 ]; then
		it_fail "no progress for 60 s: beta holds$now; proxy: $(tr '\n' ' ' <"$T/proxy.stats")"
	fi
	sleep 0.2
done
ms=$(($(it_now_ms) - t0))
cuts=$(pstat cuts)
conns=$(pstat connections)
it_note "all at beta after $ms ms; $cuts cuts in $conns connections"
expect_eq "the proxy cut $ncuts connections" "$cuts" "$ncuts"

# Nothing may still be on its way (a late duplicate would show now).
i=0
while [ $i -lt 100 ]; do
	[ "$("$FERRY" status --json | json_get outbound_messages)" = 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
expect_eq "alpha: nothing outbound" \
	"$("$FERRY" status --json | json_get outbound_messages)" 0
sleep 1
beta_counts >"$T/counts" || it_fail "ferry queues on beta failed"
for qn in $want; do
	expect_eq "beta/${qn%:*} holds each message once" \
		"$(sed -n "s|^${qn%:*} ||p" "$T/counts")" "${qn#*:}"
done
kill -TERM $proxy_pid
wait $proxy_pid || it_harness "fault_proxy exited with status $?"
[ "$(pstat done)" = 1 ] || it_harness "fault_proxy did not write its last stats"

# --- the bytes on the wire, against the payloads
c2s=$(pstat c2s_bytes)
s2c=$(pstat s2c_bytes)
payload=$((nbig * big + 2 * per_client * 200 + 2 * per_client * 1800))
extra=$((c2s - payload))
pct=$(awk -v e=$extra -v p=$payload 'BEGIN { printf "%+.1f", 100 * e / p }')
it_note "alpha sent $c2s bytes through the proxy for $payload payload bytes: $extra more ($pct%: framing, handshakes, re-sent, less what zstd saved on the small messages); beta sent $s2c"
# What any session costs besides payload, cut or not (the zero-cut run
# measures 1.3%): per small message its MSG, CHUNK header and END (~250
# B), per 64 KiB record its length, tag and frame headers (~50 B), per
# connection the preamble, handshake and HELLOs (~500 B).  The rest of the
# extra bytes were sent twice; the issue allows 10% of the payload.
framing=$((nsmall * 250 + payload / 65000 * 50 + $(pstat connections) * 500))
resent=$((extra - framing))
[ $resent -lt 0 ] && resent=0
rml=$((resent * 1000 / payload))
it_note "of those, about $framing framing and handshakes, so about $resent re-sent ($((rml / 10)).$((rml % 10))% of the payload)"
# (checked at the end, so that a failure here still checks the payloads)
resent_ok=0
[ $resent -lt $((payload / 10)) ] && resent_ok=1

# --- every message, checked
use_node beta
: >"$T/got"
: >"$T/want"
for q in s/00 s/01 m/00 m/01; do
	"$LOAD" drain "$FERRY_SOCKET" "$q" 4 >"$T/got.q" 2>>"$T/drain.err" ||
		it_fail "receiving $q failed: $(tail -n 3 "$T/drain.err")"
	sed "s|^|$q |" "$T/got.q" >>"$T/got"
	# client C sent to queue C % 2: "client 00C seq SSSSS"
	seq -f "$q client 00${q#*/0} seq %05g" 0 $((per_client - 1)) >>"$T/want"
done
got=$(wc -l <"$T/got" | tr -d ' ')
expect_eq "small messages received" "$got" $nsmall
dups=$(sort "$T/got" | uniq -d | head -n 3 | tr '\n' ' ')
[ -z "$dups" ] || it_fail "received twice: $dups"
it_ok "no small message twice"
sort "$T/want" >"$T/want.sorted"
sort "$T/got" >"$T/got.sorted"
cmp -s "$T/want.sorted" "$T/got.sorted" ||
	it_fail "small messages missing or unexpected: $(diff "$T/want.sorted" "$T/got.sorted" | head -n 5 | tr '\n' ' ')"
it_ok "every small message there once, bodies checked against their index"
mkdir "$T/out" || it_harness "mkdir"
"$FERRY" recv big --count 0 --out "$T/out" >/dev/null ||
	it_fail "receiving the big messages failed"
i=1
while [ $i -le $nbig ]; do
	id=$(cat "$T/big.$i.id")
	[ -f "$T/out/$id" ] || it_fail "big message $i ($id) not received"
	cmp -s "$T/big.$i" "$T/out/$id" || it_fail "big message $i differs"
	i=$((i + 1))
done
it_ok "$nbig big messages byte-identical"
expect_eq "beta/big empty after" "$(queue_count big)" 0

use_node alpha
for i in 1 $nbig; do
	"$FERRY" status "$(cat "$T/big.$i.id")" | grep -q 'handed to beta at' ||
		it_fail "status of big message $i: $("$FERRY" status "$(cat "$T/big.$i.id")")"
done
it_ok "alpha: the big messages were handed to beta"
n=$(grep -c 'session up' "$(node_log alpha)")
it_note "alpha: $n sessions; beta: $(grep -c 'resuming message' "$(node_log beta)") transfers resumed, $(grep -c 'too many handshakes' "$(node_log beta)") handshake floods noted"
stop_node alpha
stop_node beta
if grep -E 'Sanitizer|runtime error:' "$(node_log alpha)" "$(node_log beta)"; then
	it_fail "a sanitizer complained (above)"
fi
[ $resent_ok -eq 1 ] ||
	it_fail "alpha re-sent $((rml / 10)).$((rml % 10))% of the payload bytes (10% allowed)"
it_ok "re-sent bytes under 10% of the payload"
it_pass
