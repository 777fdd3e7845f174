#!/bin/sh
# cli_consume.sh - `ferry consume QUEUE -- CMD` against a live ferryd:
#   (a) 20 messages, each handled exactly once (payload on stdin, the
#       header in FERRY_* variables), the queue empty after;
#   (b) a handler that fails for one message: it is tried --max-deliveries
#       times, then lies in dead with the reason "handler failed" and the
#       handler's last lines of stderr (`ferry recv dead --json`); the
#       others are handled once;
#   (c) --parallel 4: four handlers run at once (marker files), never more;
#   (d) SIGTERM during a slow handler: consume lets it finish, takes no
#       new message, exits 0, and the message is acked;
#   (e) a handler longer than the lease keeps its message (renewed); kill
#       -9 of consume kills the handler, and a new consume gets the
#       message again (FERRY_DELIVERIES 2).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

start_node alpha '[limits]' 'sweep_interval = 100ms'
w=$IT_TMP/work
mkdir "$w" || it_harness "mkdir $w"

# wait_for SECS CMD...: until CMD succeeds; 1 after SECS.
wait_for() {
	wf_end=$(($(it_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(it_now_ms)" -lt "$wf_end" ] || return 1
		sleep 0.05
	done
	return 0
}

# consume_start NAME ARGS...: `ferry consume ARGS...` in the background,
# its pid in $IT_TMP/NAME.pid, its stderr in $w/NAME.err.
consume_start() {
	cs_name=$1
	shift
	"$FERRY" consume "$@" >"$w/$cs_name.out" 2>"$w/$cs_name.err" &
	echo $! >"$w/$cs_name.pid"
	it_at_exit "kill -9 $! 2>/dev/null"
}

# consume_stop NAME: SIGTERM, wait (20 s max), its exit status in $rc.
consume_stop() {
	cp_pid=$(cat "$w/$1.pid")
	kill -TERM "$cp_pid"
	wait_for 20 sh -c "! kill -0 $cp_pid 2>/dev/null" ||
		it_fail "consume $1 still runs 20 s after SIGTERM"
	wait "$cp_pid"
	rc=$?
}

files_at_least() { [ "$(ls "$1" | wc -l)" -ge "$2" ]; }
count_is() { [ "$(queue_count "$1")" = "$2" ]; }
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# ------------------------------------------------------ (a) exactly once
mkdir "$w/a"
cat >"$w/a.sh" <<'EOF'
#!/bin/sh
# Payload to a file named by the id; one log line per call.
d=$1
cat >"$d/$FERRY_ID.part" || exit 1
mv "$d/$FERRY_ID.part" "$d/$FERRY_ID"
echo "$FERRY_ID $FERRY_QUEUE $FERRY_SRC $FERRY_PRIORITY $FERRY_DELIVERIES <$FERRY_CORRELATION> <$FERRY_REPLY_TO>" >>"$d/../a.log"
EOF
chmod +x "$w/a.sh"
i=1
while [ $i -le 20 ]; do
	if [ $i -eq 7 ]; then
		echo "message $i" | "$FERRY" send alpha/jobs --priority 6 \
			--correlation "req $i" --reply-to answers >"$w/id7" ||
			it_harness "send $i"
	else
		echo "message $i" | "$FERRY" send alpha/jobs >/dev/null ||
			it_harness "send $i"
	fi
	i=$((i + 1))
done
consume_start a jobs -- "$w/a.sh" "$w/a"
wait_for 30 lines_at_least "$w/a.log" 20 ||
	it_fail "(a) 20 messages not handled within 30 s: $(cat "$w/a.err")"
sleep 0.3 # a 21st call would show now
consume_stop a
expect_eq "(a) consume's exit status after SIGTERM" "$rc" 0
expect_eq "(a) handler calls" "$(wc -l <"$w/a.log")" 20
expect_eq "(a) distinct ids handled" "$(cut -d' ' -f1 "$w/a.log" | sort -u | wc -l)" 20
expect_eq "(a) payloads written" "$(ls "$w/a" | wc -l)" 20
expect_eq "(a) each payload once" \
	"$(cat "$w/a"/* | sort | uniq -c | awk '$1 != 1' | wc -l)" 0
expect_eq "(a) every payload" "$(cat "$w/a"/* | sort -u | wc -l)" 20
expect_eq "(a) jobs after" "$(queue_count jobs)" 0
id7=$(cat "$w/id7")
expect_eq "(a) FERRY_* of message 7" "$(grep "^$id7 " "$w/a.log" | cut -d' ' -f2-)" \
	"jobs alpha 6 1 <req 7> <answers>"
expect_eq "(a) payload of message 7" "$(cat "$w/a/$id7")" "message 7"
expect_eq "(a) the urgent one first" "$(head -n 1 "$w/a.log" | cut -d' ' -f1)" "$id7"

# ---------------------------------------------- (b) retried, then dead
cat >"$w/b.sh" <<'EOF'
#!/bin/sh
p=$(cat)
echo "$FERRY_ID $FERRY_DELIVERIES $p" >>"$1"
case $p in
bad*)
	echo "noise that scrolls away" >&2
	echo "first line of the end" >&2
	echo "cannot handle '$p'" >&2
	exit 3
	;;
esac
exit 0
EOF
chmod +x "$w/b.sh"
echo "good one" | "$FERRY" send alpha/b >/dev/null || it_harness "send"
bad=$(echo "bad apple" | "$FERRY" send alpha/b) || it_harness "send"
echo "good two" | "$FERRY" send alpha/b >/dev/null || it_harness "send"
consume_start b b --max-deliveries 3 --retry-delay 100ms -- "$w/b.sh" "$w/b.log"
wait_for 30 count_is dead 1 ||
	it_fail "(b) nothing in dead within 30 s: $(cat "$w/b.err")"
consume_stop b
expect_eq "(b) consume's exit status" "$rc" 0
expect_eq "(b) tries of the bad one" "$(grep -c "^$bad " "$w/b.log")" 3
expect_eq "(b) its FERRY_DELIVERIES" \
	"$(grep "^$bad " "$w/b.log" | cut -d' ' -f2 | tr '\n' ' ')" "1 2 3 "
expect_eq "(b) calls of the good ones" "$(grep -c ' good ' "$w/b.log")" 2
expect_eq "(b) b after" "$(queue_count b)" 0
# Taken from dead it counts one more delivery: look at it first.
"$FERRY" recv dead --peek --json >"$w/dead.peek" || it_fail "(b) recv dead --peek failed"
grep -q -F '"deliveries":3' "$w/dead.peek" ||
	it_fail "(b) not 3 deliveries: $(cat "$w/dead.peek")"
"$FERRY" recv dead --json >"$w/dead.json" || it_fail "(b) recv dead failed"
grep -q -F "\"id\":\"$bad\"" "$w/dead.json" || it_fail "(b) dead holds another message: $(cat "$w/dead.json")"
grep -q -F '"dead_reason":"handler failed"' "$w/dead.json" ||
	it_fail "(b) no reason 'handler failed': $(cat "$w/dead.json")"
grep -q -F '"dead_text":"noise that scrolls away\nfirst line of the end\ncannot handle '"'bad apple'"'\n"' "$w/dead.json" ||
	it_fail "(b) the stderr tail is not in dead_text: $(cat "$w/dead.json")"
grep -q -F "retried in" "$w/b.err" || it_fail "(b) consume did not say when it retries: $(cat "$w/b.err")"
it_ok "(b) dead letter with reason and stderr tail"

# ------------------------------------------------------ (c) --parallel 4
mkdir "$w/run"
cat >"$w/c.sh" <<'EOF'
#!/bin/sh
# How many handlers run now (this one included), then hold on a while.
d=$1
: >"$d/run/$FERRY_ID"
ls "$d/run" | wc -l >>"$d/c.peaks"
sleep 2
rm -f "$d/run/$FERRY_ID"
echo "$FERRY_ID" >>"$d/c.log"
EOF
chmod +x "$w/c.sh"
i=1
while [ $i -le 8 ]; do
	echo "slow $i" | "$FERRY" send alpha/c >/dev/null || it_harness "send"
	i=$((i + 1))
done
t0=$(it_now_ms)
consume_start c c --parallel 4 -- "$w/c.sh" "$w"
wait_for 40 lines_at_least "$w/c.log" 8 ||
	it_fail "(c) 8 slow messages not handled within 40 s: $(cat "$w/c.err")"
t1=$(it_now_ms)
consume_stop c
expect_eq "(c) consume's exit status" "$rc" 0
peak=$(sort -n "$w/c.peaks" | tail -n 1)
it_note "(c) 8 handlers of 2 s with --parallel 4: $((t1 - t0)) ms, at most $peak at once"
[ "$peak" -ge 3 ] || it_fail "(c) at most $peak handlers ran at once, wanted 4"
[ "$peak" -le 4 ] || it_fail "(c) $peak handlers ran at once, more than --parallel 4"
it_ok "(c) $peak handlers at once"
expect_eq "(c) calls" "$(sort -u "$w/c.log" | wc -l)" 8

# ------------------------------------------- (d) SIGTERM lets it finish
cat >"$w/d.sh" <<'EOF'
#!/bin/sh
echo "$FERRY_ID" >>"$1/d.started"
sleep 3
echo "$FERRY_ID" >>"$1/d.done"
EOF
chmod +x "$w/d.sh"
d1=$(echo "first" | "$FERRY" send alpha/d) || it_harness "send"
echo "second" | "$FERRY" send alpha/d >/dev/null || it_harness "send"
consume_start d d -- "$w/d.sh" "$w"
wait_for 20 lines_at_least "$w/d.started" 1 || it_fail "(d) the handler did not start"
consume_stop d
expect_eq "(d) consume's exit status" "$rc" 0
expect_eq "(d) the running handler finished" "$(cat "$w/d.done" 2>/dev/null)" "$d1"
expect_eq "(d) handlers started" "$(wc -l <"$w/d.started")" 1
expect_eq "(d) the second message stays queued" "$(queue_count d)" 1
"$FERRY" status "$d1" --json | grep -q '"status":"acked"' ||
	it_fail "(d) $d1 is not acked: $("$FERRY" status "$d1")"
it_ok "(d) the finished message is acked"

# ----------------------------------- (e) long handler, then kill -9
cat >"$w/e1.sh" <<'EOF'
#!/bin/sh
echo $$ >"$1/e.hpid"
exec sleep 60
EOF
cat >"$w/e2.sh" <<'EOF'
#!/bin/sh
cat >"$1/e.payload"
echo "$FERRY_ID $FERRY_DELIVERIES" >>"$1/e.log"
EOF
chmod +x "$w/e1.sh" "$w/e2.sh"
e=$(echo "survivor" | "$FERRY" send alpha/e) || it_harness "send"
consume_start e1 e --lease 1s -- "$w/e1.sh" "$w"
wait_for 20 [ -s "$w/e.hpid" ] || it_fail "(e) the handler did not start"
hpid=$(cat "$w/e.hpid")
sleep 2.5 # over twice the lease
"$FERRY" status "$e" --json >"$w/e.status"
grep -q '"deliveries":1' "$w/e.status" && grep -q '"lease_until"' "$w/e.status" ||
	it_fail "(e) a handler longer than the lease lost its message: $(cat "$w/e.status")"
it_ok "(e) the lease is renewed while the handler runs"
kill -9 "$(cat "$w/e1.pid")"
wait "$(cat "$w/e1.pid")" 2>/dev/null
wait_for 5 sh -c "! kill -0 $hpid 2>/dev/null" ||
	it_fail "(e) the handler outlived its consume (pid $hpid)"
it_ok "(e) the handler died with its consume"
consume_start e2 e -- "$w/e2.sh" "$w"
wait_for 20 lines_at_least "$w/e.log" 1 ||
	it_fail "(e) the message was not delivered again within 20 s: $(cat "$w/e2.err")"
consume_stop e2
expect_eq "(e) redelivered" "$(cat "$w/e.log")" "$e 2"
expect_eq "(e) its payload" "$(cat "$w/e.payload")" "survivor"
expect_eq "(e) e after" "$(queue_count e)" 0

stop_node alpha
it_pass
