#!/bin/sh
# agent_notify.sh - ferryd as a systemd service, without systemd: a Python
# datagram socket stands in for $NOTIFY_SOCKET and writes down what
# ferryd tells it (sd_notify(3)), and when.
#  - READY=1 comes once, and only once the control socket accepts
#    connections (the listener connects the moment it reads READY=1);
#  - STATUS= names the messages stored, and is refreshed (within 12 s)
#    after a send;
#  - with WATCHDOG_USEC=2000000 and WATCHDOG_PID=ferryd's pid,
#    WATCHDOG=1 comes at least twice in 3 s; with WATCHDOG_PID another
#    process's, never;
#  - SIGTERM: STOPPING=1, then a clean exit;
#  - JOURNAL_STREAM naming stderr: lines "<6>..." without a time stamp;
#    naming another file: the usual time-stamped lines;
#  - --syslog: ferryd starts, answers, and writes nothing to stderr (what
#    syslog got is not checked: that needs a syslog daemon).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

T=$IT_TMP
make_node alpha
conf=$(node_conf alpha)
sock=$(node_sock alpha)
log=$(node_log alpha)
FERRY_SOCKET=$sock
export FERRY_SOCKET

# The stand-in for systemd: each datagram line as "MS LINE" in OUT; on
# READY=1 it connects to the control socket at once and adds
# "MS connect ok" or "MS connect failed".
cat >"$T/listen.py" <<'EOF'
import os, socket, sys, time
path, ctl, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.5)
end = time.monotonic() + 120
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end and not os.path.exists(out + ".quit"):
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        ms = int(time.monotonic() * 1000)
        for line in data.decode("utf-8", "replace").split("\n"):
            f.write("%d %s\n" % (ms, line))
            if line == "READY=1":
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    c.connect(ctl)
                    f.write("%d connect ok\n" % ms)
                except OSError as e:
                    f.write("%d connect failed %s\n" % (ms, e))
                c.close()
EOF
command -v python3 >/dev/null || it_skip "needs python3"
nsock=$T/notify.sock
out=$T/notify.out
: >"$out"
python3 "$T/listen.py" "$nsock" "$sock" "$out" 2>"$T/listen.err" &
lpid=$!
it_at_exit "touch '$out.quit'; kill $lpid 2>/dev/null"
i=0
while [ ! -S "$nsock" ]; do
	it_alive $lpid || it_harness "the notify listener died: $(cat "$T/listen.err")"
	i=$((i + 1))
	[ $i -gt 100 ] && it_harness "the notify listener did not start"
	sleep 0.05
done

# py_now_ms: the listener's clock (monotonic), to compare with its lines.
py_now_ms() {
	python3 -c 'import time; print(int(time.monotonic() * 1000))'
}

# start_service [WATCHDOG_PID]: ferryd with NOTIFY_SOCKET and a watchdog
# of 2 s; the pid it is told is its own (sh's $$, kept by exec) unless
# one is given.
start_service() {
	NOTIFY_SOCKET=$nsock WATCHDOG_USEC=2000000 WD_PID=${1:-} \
		sh -c 'WATCHDOG_PID=${WD_PID:-$$}; export WATCHDOG_PID;
			unset WD_PID; exec "$0" -c "$1"' \
		"$FERRYD" "$conf" >>"$log" 2>&1 &
	svc_pid=$!
	echo "$svc_pid" >"$(node_dir alpha)/.agent.pid"
	echo "$svc_pid" >>"$T/.pids"
}

# wait_line PATTERN [SECS]: until a line of the listener's matches.
wait_line() {
	wl_i=0
	while ! grep -q "$1" "$out"; do
		it_alive "$svc_pid" || it_fail "ferryd died waiting for '$1': $(tail -n 3 "$log")"
		wl_i=$((wl_i + 1))
		[ $wl_i -gt $((${2:-10} * 20)) ] &&
			it_fail "no '$1' from ferryd within ${2:-10} s: $(cat "$out")"
		sleep 0.05
	done
}

# --- READY=1 once the socket answers, STATUS=, WATCHDOG=1, STOPPING=1
start_service
wait_line ' READY=1$'
grep -q ' connect ok$' "$out" ||
	it_fail "READY=1 came before the control socket accepted: $(grep connect "$out")"
it_ok "READY=1 came once the control socket accepted a connection"
expect_eq "READY=1 lines" "$(grep -c ' READY=1$' "$out")" 1
grep ' STATUS=' "$out" | head -n 1 | grep -q 'STATUS=0 messages (0 bytes) stored' ||
	it_fail "no STATUS= with the totals at start: $(cat "$out")"
it_ok "STATUS: $(grep ' STATUS=' "$out" | head -n 1 | cut -d' ' -f2-)"
grep -q "watchdog: a keep-alive every 1000 ms" "$log" ||
	it_fail "ferryd does not log its watchdog: $(tail -n 5 "$log")"

t0=$(py_now_ms)
sleep 3
wd=$(awk -v t0="$t0" '$2 == "WATCHDOG=1" && $1 >= t0 && $1 < t0 + 3000' "$out" |
	wc -l)
[ "$wd" -ge 2 ] || it_fail "WATCHDOG=1 came $wd times in 3 s, wanted at least 2: $(cat "$out")"
it_ok "WATCHDOG=1 came $wd times in 3 s (WATCHDOG_USEC = 2 s)"

printf hello | "$FERRY" send alpha/q >/dev/null || it_fail "ferry send failed"
wait_line ' STATUS=1 message (5 bytes) stored' 12
it_ok "STATUS= is refreshed after a send: $(grep ' STATUS=1 ' "$out" | head -n 1 | cut -d' ' -f2-)"

stop_node alpha 10
grep -q ' STOPPING=1$' "$out" || it_fail "no STOPPING=1 on SIGTERM: $(tail -n 5 "$out")"
it_ok "SIGTERM: STOPPING=1, and ferryd exited 0 in $STOP_MS ms"

# --- WATCHDOG_PID of another process: no keep-alives
: >"$out"
start_service 1
wait_line ' READY=1$'
sleep 2.5
grep -q ' WATCHDOG=1$' "$out" &&
	it_fail "WATCHDOG=1 was sent although WATCHDOG_PID names another process"
it_ok "no WATCHDOG=1 when WATCHDOG_PID is another process's"
stop_node alpha 10

# --- JOURNAL_STREAM: priority prefixes and no time stamps on stderr
jlog=$T/journal.log
: >"$jlog"
JOURNAL_STREAM=$(stat -c '%d:%i' "$jlog") "$FERRYD" -c "$conf" >>"$jlog" 2>&1 &
svc_pid=$!
echo "$svc_pid" >"$(node_dir alpha)/.agent.pid"
echo "$svc_pid" >>"$T/.pids"
wait_ready alpha "$svc_pid" || it_fail "ferryd did not answer: $(tail -n 3 "$jlog")"
grep -q '^<6>node alpha (fingerprint [a-z0-9-]*) ready' "$jlog" ||
	it_fail "with JOURNAL_STREAM on stderr, no '<6>node alpha ... ready' line: $(cat "$jlog")"
grep -v '^<[3467]>' "$jlog" | grep -q . &&
	it_fail "a line without a priority prefix: $(grep -v '^<[3467]>' "$jlog" | head -n 1)"
grep -q '^<[0-9]>[0-9]\{4\}-' "$jlog" && it_fail "a time stamp in journal lines"
it_ok "JOURNAL_STREAM: $(head -n 1 "$jlog")"
stop_node alpha 10
: >"$jlog"
JOURNAL_STREAM=1:2 "$FERRYD" -c "$conf" >>"$jlog" 2>&1 &
svc_pid=$!
echo "$svc_pid" >"$(node_dir alpha)/.agent.pid"
echo "$svc_pid" >>"$T/.pids"
wait_ready alpha "$svc_pid" || it_fail "ferryd did not answer: $(tail -n 3 "$jlog")"
grep -q '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T.*Z ferryd info: node alpha' "$jlog" ||
	it_fail "JOURNAL_STREAM naming another file changed the log: $(cat "$jlog")"
it_ok "JOURNAL_STREAM naming another file: time-stamped lines as usual"
stop_node alpha 10

# --- --syslog: runs, answers, nothing on stderr
slog=$T/syslog.err
"$FERRYD" --syslog -c "$conf" >"$slog" 2>&1 &
svc_pid=$!
echo "$svc_pid" >"$(node_dir alpha)/.agent.pid"
echo "$svc_pid" >>"$T/.pids"
wait_ready alpha "$svc_pid" || it_fail "ferryd --syslog did not answer: $(cat "$slog")"
stop_node alpha 10
[ -s "$slog" ] && it_fail "ferryd --syslog wrote to stderr: $(cat "$slog")"
if [ -S /dev/log ]; then
	it_ok "ferryd --syslog runs and logs nothing to stderr (to /dev/log)"
else
	it_ok "ferryd --syslog runs and logs nothing to stderr (no /dev/log here: its lines are lost, not checked)"
fi
it_pass
