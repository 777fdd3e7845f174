#!/bin/sh
# link_hs_flood.sh - a flood of unauthenticated connections does not lock a
# real peer out (issue 12 item 2).  alpha dials beta through a transparent
# fault_proxy that records alpha's first connection, so that a real
# preamble + message 1 of alpha can be replayed.  Then hs_flood.py holds
# 50 idle TCP connections to beta (no byte sent), opening another whenever
# one closes, and sends 20 replayed message-1s a second, all from
# 127.0.0.1, for at most 20 s; meanwhile alpha is restarted three times
# (SIGTERM and kill -9 in turn) and each time reconnects and delivers a
# message within 5 s of answering.  Before the flood, three idle
# connections are cut once message 1 is 2 s late.  beta's log names the
# cuts honestly (message 1 late, oldest dropped), never "wrong key".
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

PROXY=$(it_helper fault_proxy) || exit 99
T=$IT_TMP
t_start=$(it_now_ms)

make_node alpha
make_node beta
beta_port=$(it_free_port)
proxy_port=$(it_free_port)
node_listen beta "$beta_port"
node_peer beta alpha
{
	printf '[peer beta]\nkey = %s\n' "$(node_card beta)"
	printf 'tcp = 127.0.0.1:%s\n' "$proxy_port"
	printf 'retry_min = 200ms\nretry_max = 2s\n'
} >>"$(node_conf alpha)"

"$PROXY" --listen "$proxy_port" --target "$beta_port" \
	--port-file "$T/proxy.port" --record "$T/rec" \
	>/dev/null 2>>"$T/proxy.log" &
proxy_pid=$!
it_at_exit "kill $proxy_pid 2>/dev/null"
it_wait_proxy $proxy_pid "$T/proxy.port" "$T/proxy.log"

start_agent beta
# Three connections that send nothing are cut once message 1 is 2 s late.
python3 - "$beta_port" >"$T/idle.out" <<'PY' &
import socket, sys, time
t0 = time.monotonic()
ss = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
for s in ss:
    s.settimeout(10)
    try:
        s.recv(1)
    except OSError:
        pass
print("%.0f" % ((time.monotonic() - t0) * 1000))
PY
idle_pid=$!
start_agent alpha
echo first | "$FERRY" send beta/q >/dev/null || it_fail "send"
wait_count beta q 1 10 || it_fail "no delivery before the flood"
it_ok "alpha delivers to beta before the flood"

wait $idle_pid || it_harness "idle script"
idle_ms=$(cat "$T/idle.out")
it_note "3 idle connections cut after $idle_ms ms"
[ "$idle_ms" -ge 1500 ] && [ "$idle_ms" -le 4000 ] ||
	it_fail "idle connections were cut after $idle_ms ms, not about 2 s"
it_ok "a connection without message 1 is cut after about 2 s"

# The caller's first 110 bytes: preamble (12), length (2), message 1 (96).
head -c 110 "$T/rec" >"$T/msg1"
[ "$(wc -c <"$T/msg1")" -eq 110 ] || it_harness "the recording is too short"
[ "$(head -c 12 "$T/msg1")" = "ferry-tcp/1" ] ||
	it_harness "the recording does not start with the preamble"

# The flood itself: plain sockets, no ferry code.
cat >"$T/hs_flood.py" <<'PY'
#!/usr/bin/env python3
"""hs_flood.py - an unauthenticated-connection flood on 127.0.0.1, for
link_hs_flood.sh.  Plain sockets: it knows nothing of ferry but the bytes
it is given.

  hs_flood.py PORT MSG1_FILE [--idle N] [--rate R] [--secs S]

Holds N (50) connections to 127.0.0.1:PORT open without sending a byte,
opening another at once whenever one closes; every 1/R s (R = 20) opens
one more, sends the bytes of MSG1_FILE (a preamble and message 1) and keeps
it open until the server closes it (at most 400 of those at a time).
Stops by itself after S (15) seconds, or at SIGTERM, and prints one line
of counters on stdout.  Exit 0, or 2 on a usage error.
"""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("msg1")
ap.add_argument("--idle", type=int, default=50)
ap.add_argument("--rate", type=float, default=20.0)
ap.add_argument("--secs", type=float, default=15.0)
a = ap.parse_args()
msg1 = open(a.msg1, "rb").read()
stop = [False]
signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))

sel = selectors.DefaultSelector()
n = {"idle_opened": 0, "idle_closed": 0, "replays": 0, "replays_closed": 0,
     "connect_failed": 0}
replays_open = [0]


def open_conn(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", a.port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        n["connect_failed"] += 1
        return False
    # Wait for writable (connected) first; then watch for the close.
    sel.register(s, selectors.EVENT_WRITE, [kind, "connecting"])
    if kind == "idle":
        n["idle_opened"] += 1
    else:
        n["replays"] += 1
        replays_open[0] += 1
    return True


def closed(s, kind):
    sel.unregister(s)
    s.close()
    if kind == "idle":
        n["idle_closed"] += 1
        open_conn("idle")
    else:
        n["replays_closed"] += 1
        replays_open[0] -= 1


for _ in range(a.idle):
    open_conn("idle")
t0 = time.monotonic()
next_replay = t0
while not stop[0] and time.monotonic() - t0 < a.secs:
    now = time.monotonic()
    while now >= next_replay:
        if replays_open[0] < 400:
            open_conn("replay")
        next_replay += 1.0 / a.rate
    for key, ev in sel.select(timeout=max(0.0, next_replay - now)):
        s, (kind, state) = key.fileobj, key.data
        if state == "connecting":
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                closed(s, kind)
                continue
            if kind == "replay":
                try:
                    s.send(msg1)
                except OSError:
                    closed(s, kind)
                    continue
            sel.modify(s, selectors.EVENT_READ, [kind, "open"])
            continue
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed(s, kind)
for key in list(sel.get_map().values()):
    key.fileobj.close()
print(" ".join("%s %d" % kv for kv in n.items()))
sys.exit(0)
PY
python3 "$T/hs_flood.py" "$beta_port" "$T/msg1" --idle 50 --rate 20 --secs 20 \
	>"$T/flood.out" 2>"$T/flood.err" &
flood_pid=$!
it_at_exit "kill $flood_pid 2>/dev/null"
sleep 1.5 # every slot taken, the per-source budget spent on replays
it_alive $flood_pid || it_harness "hs_flood.py: $(cat "$T/flood.err")"

round=1
while [ $round -le 3 ]; do
	it_alive $flood_pid || it_harness "the flood stopped early: $(cat "$T/flood.err")"
	if [ $((round % 2)) -eq 1 ]; then
		stop_node alpha
	else
		kill9_node alpha
	fi
	start_agent alpha
	t0=$(it_now_ms)
	echo "round $round" | "$FERRY" send beta/q >/dev/null || it_fail "send"
	if ! wait_count beta q $((round + 1)) 5; then
		it_fail "round $round: alpha did not deliver within 5 s under the flood; beta: $(grep -c 'session up' "$(node_log beta)") sessions; alpha's last lines: $(tail -n 3 "$(node_log alpha)")"
	fi
	it_ok "round $round: alpha reconnected and delivered in $(($(it_now_ms) - t0)) ms"
	round=$((round + 1))
done

kill -TERM $flood_pid
wait $flood_pid || it_harness "hs_flood.py exited with $?: $(cat "$T/flood.err")"
it_note "flood: $(cat "$T/flood.out")"
blog=$(node_log beta)
grep -q 'handshake cut before message 1 arrived' "$blog" ||
	it_fail "beta's log does not name idle connections cut before message 1"
it_ok "beta's log: idle connections cut before message 1"
grep -q 'too many unauthenticated connections' "$blog" ||
	it_fail "beta's log does not name connections dropped for newer ones"
it_ok "beta's log: the oldest dropped for newcomers"
! grep -q 'wrong key' "$blog" ||
	it_fail "beta's log blames a wrong key: $(grep -m1 'wrong key' "$blog")"
it_ok "beta's log blames no key"
use_node beta
expect_eq "beta/q holds the 4 messages" "$(queue_count q)" 4
stop_node alpha
stop_node beta
it_note "took $(($(it_now_ms) - t_start)) ms"
it_pass
