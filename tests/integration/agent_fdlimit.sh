#!/bin/sh
# agent_fdlimit.sh - ferryd out of file descriptors: started with a hard
# limit of 64 open files, it gets 100 client connections at once.  It
# must pause accepting (one log line a second), not spin on accept(2)
# and flood its log, and answer again once the clients are gone.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
command -v prlimit >/dev/null 2>&1 || it_skip "prlimit (util-linux) is missing"
make_node n
# start_agent, under a hard limit of 64 open files.
prlimit --nofile=64:64 "$FERRYD" -c "$(node_conf n)" >>"$(node_log n)" 2>&1 &
echo $! >"$(node_dir n)/.agent.pid"
echo $! >>"$IT_TMP/.pids"
wait_ready n "$(node_pid n)" || it_fail "ferryd did not start: $(tail -n 5 "$(node_log n)")"
use_node n
SOCK=$(node_sock n)

python3 - "$SOCK" <<'PY' >"$T/hog.out" 2>&1 &
import socket, sys, time
held = []
for i in range(100):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError:
        break
    held.append(s)
print("connected", len(held), flush=True)
time.sleep(3)
for s in held:
    s.close()
PY
hog=$!
wait $hog
sleep 0.5
n=$(grep -c 'accepting a client failed' "$(node_log n)")
[ "$n" -ge 1 ] || it_fail "ferryd never ran out of descriptors: $(cat "$T/hog.out")"
[ "$n" -le 8 ] || it_fail "$n log lines about accept(2) in about 3 s: a spin"
grep -q 'raise the open files limit' "$(node_log n)" ||
	it_fail "no advice in the log: $(grep 'accepting a client' "$(node_log n)" | head -n 1)"
it_ok "out of descriptors, ferryd paused accepting ($n log lines in 3 s)"
i=0
until "$FERRY" info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || it_fail "ferryd does not answer after the clients left"
	sleep 0.1
done
echo hello | "$FERRY" send n/q >/dev/null || it_fail "send after the flood"
expect_eq "messages in n/q" "$(queue_count q)" 1
it_ok "ferryd answers and stores again once the clients are gone"
it_pass
