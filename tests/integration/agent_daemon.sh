#!/bin/sh
# agent_daemon.sh - ferryd as a daemon, and how it stops.
#  - `ferryd --daemon -c CONF` exits 0 only once the socket answers (the
#    very next `ferry info` works), writes the pid file, detaches;
#  - a second ferryd on the same state directory fails with a message
#    that says why, and leaves the first one working;
#  - SIGTERM stops it within 5 s, with status 0, and removes the socket;
#  - SIGTERM while a large streamed send is coming in: ferryd stops
#    cleanly within 5 s, and after a restart nothing of the half-sent
#    message exists (no message, no queue entry, its id is unknown and
#    can be sent again).
#  - a [peer] section holding the node's own card is refused at start,
#    with a message that says so.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node alpha
conf=$(node_conf alpha)
dir=$(node_dir alpha)
sock=$(node_sock alpha)
log=$(node_log alpha)
pidf=$dir/ferryd.pid
FERRY_SOCKET=$sock
export FERRY_SOCKET

# --- a [peer] section holding this node's own card: refused, and said
card=$(FERRY_SOCKET= "$FERRY" keygen --dir "$dir" --json | json_get card)
[ -n "$card" ] || it_harness "no card from ferry keygen --dir"
cp "$conf" "$T/conf.ok"
printf '[peer beta]\nkey = %s\n' "$card" >>"$conf"
timeout 20 "$FERRYD" -c "$conf" >"$T/own.out" 2>&1
rc=$?
cp "$T/conf.ok" "$conf"
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
	it_fail "ferryd with its own card as a peer's exited with status $rc"
grep -q "\[peer beta\].*own key" "$T/own.out" ||
	it_fail "ferryd does not say the peer's card is its own: $(cat "$T/own.out")"
it_ok "a peer with this node's own card is refused: $(grep "own key" "$T/own.out" | cut -c 1-100)"

# --- --daemon returns once ready
t0=$(it_now_ms)
"$FERRYD" --daemon -c "$conf" >"$T/daemon.out" 2>&1
rc=$?
ms=$(($(it_now_ms) - t0))
[ -s "$pidf" ] && cat "$pidf" >>"$T/.pids"
expect_eq "ferryd --daemon exit status" $rc 0
"$FERRY" info >/dev/null 2>"$T/info.err" ||
	it_fail "ferryd --daemon returned before its socket answered: $(cat "$T/info.err")"
it_ok "the socket answers as soon as ferryd --daemon returns ($ms ms)"
[ -s "$pidf" ] || it_fail "no pid file $pidf"
dpid=$(cat "$pidf")
it_is_ferryd "$dpid" || it_fail "the pid file says $dpid, which is not a running ferryd"
it_ok "pid file names the running daemon ($dpid)"
echo "$dpid" >"$dir/.agent.pid"
ppid=$(awk '{ print $4 }' "/proc/$dpid/stat")
sid=$(awk '{ print $6 }' "/proc/$dpid/stat")
[ "$ppid" != $$ ] || it_fail "the daemon is still a child of the shell"
expect_eq "the daemon leads its own session" "$sid" "$dpid"
[ -s "$T/daemon.out" ] && it_note "ferryd --daemon printed: $(cat "$T/daemon.out")"

# --- a second agent on the same state directory
timeout 20 "$FERRYD" -c "$conf" >"$T/second.out" 2>&1
rc=$?
[ $rc -eq 124 ] && it_fail "a second ferryd on the same state directory did not exit"
[ $rc -ne 0 ] || it_fail "a second ferryd on the same state directory exited 0"
it_note "second ferryd: $(cat "$T/second.out")"
grep -qi "in use\|another\|running\|locked" "$T/second.out" ||
	it_fail "the second ferryd does not say why it fails: '$(cat "$T/second.out")'"
it_ok "a second ferryd fails (status $rc) and says why"
timeout 20 "$FERRYD" --daemon -c "$conf" >"$T/second-d.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
	it_fail "a second ferryd --daemon exited with status $rc"
it_ok "a second ferryd --daemon fails too (status $rc)"
[ -s "$T/second-d.out" ] ||
	it_note "(it printed nothing: a --daemon start-up error goes to syslog only)"
expect_eq "the pid file still names the first" "$(cat "$pidf")" "$dpid"
"$FERRY" info >/dev/null 2>&1 ||
	it_fail "the first agent stopped answering after the second one tried"
it_ok "the first agent still answers"

# --- SIGTERM stops it within 5 s and removes the socket
stop_node alpha 5
it_ok "SIGTERM stopped the daemon in $STOP_MS ms"
[ -e "$sock" ] && it_fail "the socket $sock is still there after SIGTERM"
it_ok "the socket is gone"
[ -e "$pidf" ] && it_note "(the pid file is left behind after a clean stop)"

# --- SIGTERM during a large streamed send
start_agent alpha
apid=$(node_pid alpha)
id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mkfifo "$T/fifo" || it_harness "mkfifo"
"$FERRY" send --id "$id" alpha/big - <"$T/fifo" >"$T/send.out" 2>"$T/send.err" &
spid=$!
exec 3>"$T/fifo"
# 64 MiB go through ferry into ferryd; the message stays open.
head -c 67108864 /dev/zero >&3 || it_harness "cannot feed ferry send"
sleep 0.5
it_alive $spid || it_fail "ferry send ended early: $(cat "$T/send.err")"
expect_eq "the unfinished message is not visible" "$(queue_count big)" 0
t0=$(it_now_ms)
kill -TERM "$apid"
while it_alive "$apid"; do
	[ $(($(it_now_ms) - t0)) -gt 5000 ] &&
		it_fail "ferryd still runs 5 s after SIGTERM during a streamed send"
	sleep 0.05
done
it_reap "$apid"
rc=$?
ms=$(($(it_now_ms) - t0))
rm -f "$dir/.agent.pid"
expect_eq "ferryd's exit status after SIGTERM mid-stream" $rc 0
it_ok "it stopped in $ms ms"
grep -q "stopped cleanly" "$log" || it_fail "the log does not say it stopped cleanly"
exec 3>&-
wait $spid
rc=$?
[ $rc -ne 0 ] || it_fail "ferry send of the interrupted message exited 0: $(cat "$T/send.out")"
it_ok "the interrupted ferry send failed (status $rc): $(head -n 1 "$T/send.err")"

start_agent alpha
expect_eq "messages in big after the restart" "$(queue_count big)" 0
expect_eq "messages stored after the restart" \
	"$("$FERRY" info --json | json_get messages)" 0
expect_eq "status of the interrupted id" \
	"$("$FERRY" status "$id" --json | json_get status)" unknown
# The cut stream's partial is kept for a resume (its id is the client's
# choice), and a whole send of the same id by the same user replaces it
# at once (docs/protocol.md §4, SEND); were it not replaced, the id would
# stay "busy" for days.
t0=$(it_now_ms)
while :; do
	got=$(printf again | "$FERRY" send --id "$id" alpha/big 2>"$T/resend.err") &&
		break
	grep -q busy "$T/resend.err" ||
		it_fail "sending again with the interrupted id failed: $(cat "$T/resend.err")"
	[ $(($(it_now_ms) - t0)) -lt 20000 ] ||
		it_fail "the interrupted id is still busy 20 s after the restart: its partial payload was kept"
	sleep 0.5
done
# The stored id is derived from the chosen one and the uid (agent/scope.c).
case $got in
[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;;
*) it_fail "sending again with the interrupted id printed '$got'" ;;
esac
it_ok "the id can be sent again ($(($(it_now_ms) - t0)) ms after the restart)"
expect_eq "and received" "$("$FERRY" recv big)" again

stop_node alpha 5
it_pass
