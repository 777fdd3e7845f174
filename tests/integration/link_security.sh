#!/bin/sh
# link_security.sh - what a peer with the wrong key, a replayed session, a
# flipped byte and an eavesdropper get from a TCP session.  alpha dials
# beta through fault_proxy (restarted with other options for each case on
# the same port).
#  (a) beta's [peer alpha] holds another node's card: alpha is refused
#      at the handshake, beta's log names the key it refused, nothing is
#      stored; once beta has the right card the message arrives.
#  (b) the bytes alpha sent during a delivery, recorded by the proxy and
#      replayed to beta later (beta's queue drained meanwhile), store
#      nothing; beta logs the failed authentication.
#  (c) one byte flipped in the first connection (in the preamble, the
#      handshake's length and body, alpha's HELLO record, the length of
#      the first record after it, and at a random offset inside the
#      payload's records) ends that connection and stores nothing
#      corrupt: both messages (a small one and a 300 KiB streamed one)
#      arrive intact, once each, over the next connection.
#  (d) a marker in the payload and the correlation never appears in the
#      bytes the proxy saw.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

PROXY=$(it_helper fault_proxy) || exit 99
T=$IT_TMP
seed=${FERRY_TEST_SEED:-$(it_rand 1000000000)}
it_note "seed $seed"

make_node alpha
make_node beta
make_node gamma # never started: only its card is used
beta_port=$(it_free_port)
proxy_port=$(it_free_port)
node_listen beta "$beta_port"
cp "$(node_conf beta)" "$T/beta.conf.base" || it_harness "cp"
{
	printf '[peer beta]\nkey = %s\n' "$(node_card beta)"
	printf 'tcp = 127.0.0.1:%s\n' "$proxy_port"
	printf 'retry_min = 200ms\nretry_max = 1s\nkeepalive = 3s\n'
	# The recording must show encryption alone: a compressed stream
	# would hide the marker and shrink below the payload anyway.
	printf 'compress = no\n'
} >>"$(node_conf alpha)"

proxy_pid=
# start_proxy [OPTION...]: a fresh fault_proxy on proxy_port.
start_proxy() {
	rm -f "$T/proxy.port" "$T/proxy.stats"
	"$PROXY" --listen "$proxy_port" --target "$beta_port" \
		--port-file "$T/proxy.port" --stats "$T/proxy.stats" \
		--seed "$seed" "$@" >/dev/null 2>>"$T/proxy.log" &
	proxy_pid=$!
	it_at_exit "kill $proxy_pid 2>/dev/null"
	it_wait_proxy $proxy_pid "$T/proxy.port" "$T/proxy.log"
}
stop_proxy() {
	kill -TERM $proxy_pid
	wait $proxy_pid || it_harness "fault_proxy exited with $?"
}
# Proxy counter NAME.
pstat() {
	sed -n "s/^$1 //p" "$T/proxy.stats"
}
# Messages beta stores, all queues.
beta_stored() {
	FERRY_SOCKET=$(node_sock beta) "$FERRY" status --json | json_get messages
}
# wait_log NODE TEXT [SECS]: until NODE's log has TEXT (grep -F).
wait_log() {
	wl_i=0
	while [ $wl_i -lt $((${3:-10} * 10)) ]; do
		grep -qF "$2" "$(node_log "$1")" && return 0
		sleep 0.1
		wl_i=$((wl_i + 1))
	done
	return 1
}

# --- (a) beta holds gamma's card for alpha
cp "$T/beta.conf.base" "$(node_conf beta)" || it_harness "cp"
printf '[peer alpha]\nkey = %s\nkeepalive = 3s\n' "$(node_card gamma)" \
	>>"$(node_conf beta)"
start_proxy
start_agent beta
start_agent alpha
use_node alpha
id_a=$(echo "for beta's eyes" | "$FERRY" send beta/sec) || it_fail "send"
alpha_kx=$(node_card alpha | python3 -c '
import base64, sys
c = sys.stdin.read().strip()[6:].upper()
b = base64.b32decode(c + "=" * (-len(c) % 8))
print(base64.b32encode(b[33:65]).decode().rstrip("=").lower())') ||
	it_harness "cannot decode alpha's card"
wait_log beta "$alpha_kx" ||
	it_fail "beta's log does not name alpha's key $alpha_kx: $(tail -n 3 "$(node_log beta)")"
grep -F "$alpha_kx" "$(node_log beta)" | head -n 1 | grep -q 'unknown' ||
	it_fail "beta's log names alpha's key but not as unknown: $(grep -F "$alpha_kx" "$(node_log beta)" | head -n 1)"
it_ok "beta refuses alpha's key and names it"
wait_log alpha "closed during the handshake" ||
	it_fail "alpha's log does not say the handshake was refused"
it_ok "alpha's log says the handshake was refused"
sleep 2 # several more dials
expect_eq "(a) beta stores nothing" "$(beta_stored)" 0
expect_eq "(a) the message waits at alpha" \
	"$("$FERRY" status "$id_a" --json | json_get status)" outbound
[ "$(pstat s2c_bytes)" = 0 ] ||
	it_fail "beta answered a caller with an unknown key: $(pstat s2c_bytes) bytes"
it_ok "beta answered nothing to the unknown key"
# with the right card, it goes
stop_node beta
cp "$T/beta.conf.base" "$(node_conf beta)" || it_harness "cp"
node_peer beta alpha "keepalive = 3s"
start_agent beta
use_node alpha
wait_count beta sec 1 20 || it_fail "(a) not delivered once beta knows alpha"
expect_eq "(a) delivered after the fix" \
	"$(FERRY_SOCKET=$(node_sock beta) "$FERRY" recv sec)" "for beta's eyes"
stop_proxy

# --- (b) + (d): record a delivery, replay it to beta later
marker="MARKER-$seed-$(it_rand 1000000)-ferry"
i=0
while [ $i -lt 4000 ]; do
	echo "$marker $i"
	i=$((i + 1))
done >"$T/marked" || it_harness "payload"
start_proxy --record "$T/rec"
id_b=$("$FERRY" send beta/rep "$T/marked" --correlation "$marker") ||
	it_fail "send"
wait_count beta rep 1 20 || it_fail "(b) the recorded delivery did not arrive"
stop_node alpha # the session ends with a CLOSE: the recording is whole
stop_proxy
rec_bytes=$(wc -c <"$T/rec" | tr -d ' ')
pay_bytes=$(wc -c <"$T/marked" | tr -d ' ')
it_note "recorded $rec_bytes bytes alpha sent for a $pay_bytes-byte payload"
[ "$rec_bytes" -gt "$pay_bytes" ] || it_fail "the recording is too short"
[ "$(grep -c "$marker" "$T/marked")" -eq 4000 ] ||
	it_harness "the marker is not in the payload"
expect_eq "(d) the marker in the raw bytes alpha sent" \
	"$(grep -a -c "$marker" "$T/rec")" 0
expect_eq "(d) nor its first 12 bytes" \
	"$(grep -a -c -F "$(echo "$marker" | cut -c1-12)" "$T/rec")" 0
use_node beta
"$FERRY" recv rep >"$T/marked.got" || it_fail "recv rep"
cmp -s "$T/marked" "$T/marked.got" || it_fail "(b) payload differs"
expect_eq "(b) beta/rep drained" "$(queue_count rep)" 0
stored0=$(beta_stored)
"$PROXY" --replay "$T/rec" --to "$beta_port" --timeout 3000 \
	>"$T/replay.out" 2>&1 || it_fail "replay: $(cat "$T/replay.out")"
it_note "$(cat "$T/replay.out")"
wait_log beta "session not started: a record failed authentication" ||
	it_fail "(b) beta's log does not show the replay failing: $(tail -n 3 "$(node_log beta)")"
it_ok "(b) beta's log: the replayed session failed authentication"
sleep 0.5
expect_eq "(b) beta/rep still empty after the replay" "$(queue_count rep)" 0
expect_eq "(b) beta stores nothing more" "$(beta_stored)" "$stored0"
it_alive "$(node_pid beta)" || it_fail "beta died"

# --- (c) one flipped byte per first connection
# The first record after alpha's HELLO starts at 112 + HELLO's length.
hello_len=$(od -An -tu1 -j110 -N2 "$T/rec" | awk '{ print $1 * 256 + $2 }')
rec2=$((112 + hello_len))
it_note "alpha's HELLO record: $hello_len bytes; the next record at $rec2"
head -c 307200 /dev/urandom >"$T/p300" || it_harness "urandom"
start_agent alpha
use_node alpha

# wait_msgs QUEUE N SECS: until beta's QUEUE holds N messages.
wait_msgs() {
	wm_t0=$(it_now_ms)
	while [ $(($(it_now_ms) - wm_t0)) -lt $(($3 * 1000)) ]; do
		[ "$(FERRY_SOCKET=$(node_sock beta) queue_count "$1")" = "$2" ] &&
			return 0
		sleep 0.2
	done
	return 1
}

# flip_case OFFSET NMSG WHAT: flip the byte at OFFSET of the first
# connection while alpha sends a small message (and the 300 KiB one when
# NMSG is 2); both must arrive intact, once each, over a later connection.
n=0
flip_case() {
	n=$((n + 1))
	fc_lines=$(wc -l <"$(node_log beta)")
	start_proxy --flip "$1"
	echo "small $n" >"$T/small.$n"
	"$FERRY" send "beta/flip$n" "$T/small.$n" >/dev/null || it_fail "send"
	if [ "$2" = 2 ]; then
		"$FERRY" send "beta/flip$n" "$T/p300" >/dev/null || it_fail "send"
	fi
	wait_msgs "flip$n" "$2" 20 ||
		it_fail "(c) flip at $1 ($3): not delivered within 20 s; proxy: $(tr '\n' ' ' <"$T/proxy.stats")"
	stop_proxy
	fc_conns=$(pstat connections)
	[ "$(pstat flips)" = 1 ] ||
		it_fail "(c) flip at $1: the proxy flipped $(pstat flips) bytes"
	[ "$fc_conns" -ge 2 ] ||
		it_fail "(c) flip at $1 ($3): delivered over the damaged connection"
	use_node beta
	mkdir "$T/out$n" || it_harness "mkdir"
	"$FERRY" recv "flip$n" --count 0 --out "$T/out$n" >"$T/got$n" 2>&1 ||
		it_fail "(c) recv: $(cat "$T/got$n")"
	use_node alpha
	fc_small=0
	fc_big=0
	for f in "$T/out$n"/*; do
		if cmp -s "$f" "$T/small.$n"; then
			fc_small=$((fc_small + 1))
		elif cmp -s "$f" "$T/p300"; then
			fc_big=$((fc_big + 1))
		else
			it_fail "(c) flip at $1 ($3): a payload arrived damaged"
		fi
	done
	[ $fc_small = 1 ] && [ $((fc_big + 1)) = "$2" ] ||
		it_fail "(c) flip at $1 ($3): $fc_small small, $fc_big big received"
	it_ok "(c) flip at $(pstat flip_offset) ($3): that connection failed, $2 message(s) intact, once ($fc_conns connections)"
	fc_said=$(tail -n +$((fc_lines + 1)) "$(node_log beta)" |
		grep -E 'not a ferry|does not decrypt|failed authentication|protocol violation|handshake' |
		head -n 1 | sed 's/^[^ ]* //')
	if [ -n "$fc_said" ]; then
		it_note "beta: $fc_said"
	else
		it_note "beta logged nothing about the damaged connection (flip at $1, $3)"
	fi
}

flip_case 3 2 "preamble"
flip_case 12 2 "handshake length"
flip_case 60 2 "handshake body"
flip_case 130 2 "alpha's HELLO record"
flip_case $rec2 2 "length of the first record after HELLO"
flip_case random:2000:250000 2 "inside the payload's records"
expect_eq "(c) beta holds nothing else" "$(beta_stored)" 0
for what in "not a ferry node" "handshake does not decrypt" \
	"session not started: a record failed authentication" \
	"session ended: a record failed authentication"; do
	grep -qF "$what" "$(node_log beta)" ||
		it_fail "(c) beta's log never says '$what'"
done
it_ok "(c) beta's log names the failures"
# A record length flipped upwards (a small record, nothing after it but
# keep-alives) must end the session too, not leave beta waiting for
# bytes that never come.
flip_case $rec2 1 "a small record's length made larger"
stop_node alpha
stop_node beta
if grep -E 'Sanitizer|runtime error:' "$(node_log alpha)" "$(node_log beta)"; then
	it_fail "a sanitizer complained (above)"
fi
it_pass
