#!/bin/sh
# link_limits.sh - liveness and limits of a TCP session between two real
# agents: a per-peer rate limit holds the bytes sent to its rate while the
# agent keeps answering its local clients; a peer that freezes (SIGSTOP:
# its socket stays open, nothing more comes) is declared dead after the
# keep-alive time and the session is closed on both sides; once it thaws,
# a new session delivers what waited.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node alpha
make_node beta
node_listen alpha "$(it_free_port)"
node_listen beta "$(it_free_port)"
node_peer alpha beta "keepalive = 2s" "rate = 1M"
node_peer beta alpha "keepalive = 2s"
start_agent alpha
start_agent beta
use_node alpha

# --- rate limit: 4 MiB at 1 MiB/s cannot take less than ~3.9 s (the
# bucket holds 0.1 s, at least two records); the loop keeps answering.
head -c 4194304 /dev/urandom >"$T/p" || it_harness "urandom"
t0=$(it_now_ms)
"$FERRY" send beta/rated "$T/p" >/dev/null || it_fail "send"
n=0
while [ "$(FERRY_SOCKET=$(node_sock beta) queue_count rated)" != 1 ]; do
	"$FERRY" info >/dev/null || it_fail "ferry info failed during a rate-limited transfer"
	n=$((n + 1))
	[ $n -gt 300 ] && it_fail "4 MiB at 1 MiB/s not there after 30 s"
	sleep 0.1
done
ms=$(($(it_now_ms) - t0))
it_note "4 MiB at rate = 1M took $ms ms ($n local requests answered meanwhile)"
[ "$ms" -ge 3500 ] || it_fail "4 MiB arrived in $ms ms: faster than the 1 MiB/s limit"
it_ok "rate limit holds the transfer to its rate"
[ $n -ge 3 ] || it_fail "only $n local requests were answered during the transfer"
it_ok "the agent answers local clients while the peer is rate limited"
"$FERRY" --socket "$(node_sock beta)" recv rated >"$T/p2" || it_fail "recv"
cmp -s "$T/p" "$T/p2" || it_fail "rate-limited payload differs"
it_ok "rate-limited payload intact"

# --- a frozen peer: detected by the keep-alive, on alpha's side
pid_b=$(node_pid beta)
kill -STOP "$pid_b" || it_harness "SIGSTOP"
it_at_exit "kill -CONT $pid_b 2>/dev/null"
t0=$(it_now_ms)
i=0
while [ $i -lt 100 ]; do
	[ "$("$FERRY" peers --json | json_get connected)" = false ] && break
	sleep 0.1
	i=$((i + 1))
done
ms=$(($(it_now_ms) - t0))
[ "$("$FERRY" peers --json | json_get connected)" = false ] ||
	it_fail "alpha still thinks beta is connected 10 s after it froze"
it_note "frozen peer noticed after $ms ms (keepalive = 2s)"
grep -q 'nothing heard for' "$(node_log alpha)" ||
	it_fail "alpha's log does not say the link went silent: $(tail -n 3 "$(node_log alpha)")"
it_ok "a silent peer is declared dead by the keep-alive"
id=$(echo after | "$FERRY" send beta/later) || it_fail "send"
kill -CONT "$pid_b" || it_harness "SIGCONT"
wait_count beta later 1 20 || it_fail "not delivered after the peer thawed"
expect_eq "delivered after the thaw" \
	"$("$FERRY" --socket "$(node_sock beta)" recv later)" after

# --- a handshake flood (300 at once) from one address is cut off (each handshake costs
# X25519 work); the agent stays up and the log says so once
python3 - "$(node_port alpha)" <<'PY' || it_harness "flood script"
import socket, sys
for _ in range(300):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"ferry-tcp/1\n" + b"\x00\x60" + b"\x01" * 96)
    s.close()
PY
sleep 0.5
grep -q 'too many handshakes from this address' "$(node_log alpha)" ||
	it_fail "300 handshakes in a burst were not limited: $(tail -n 3 "$(node_log alpha)")"
it_ok "a handshake flood from one address is limited"
"$FERRY" info >/dev/null || it_fail "alpha does not answer after the flood"
it_ok "the agent answers after the flood"
it_pass
