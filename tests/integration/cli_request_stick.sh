#!/bin/sh
# cli_request_stick.sh - `ferry request` answered through a stick (issue
# 17; cli_request.sh does it over TCP): alpha and beta are peers with no
# live link (neither listens, neither dials).  alpha's `ferry request
# beta/q` waits in the background while its request goes onto a folder
# (the stick) with `ferry export`, into beta with `ferry import`, is
# answered there by `ferry consume q --reply`, and the reply rides back
# on the same stick; the waiting request prints it and exits 0.
# Also: nothing reaches alpha before the import there (the reply went
# through the stick); the stick imported a second time (a copy taken
# before each import) delivers nothing twice: both replays are refused
# ("already imported"), the handler ran once, and no second reply lands
# in alpha's dead ("no one waiting").
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

w=$IT_TMP/work
S=$IT_TMP/stick
mkdir "$w" "$S" || it_harness "mkdir"
make_node alpha
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta

# custody_for NODE: messages NODE holds for its one peer (ferry peers).
custody_for() {
	ferry_at "$1" peers --json | json_get queued_messages
}

custody_is() { [ "$(custody_for "$1")" = "$2" ]; }
# queue_is NODE QUEUE N: does NODE's QUEUE hold N messages?
queue_is() { [ "$(use_node "$1"; queue_count "$2")" = "$3" ]; }

# reply_queues NODE: how many reply.* queues NODE lists.
reply_queues() {
	ferry_at "$1" queues --json | tr '{' '\n' | grep -c '"queue":"reply\.'
}

# reply_waiting NODE: messages in NODE's (one) reply queue.
reply_waiting() {
	rw=$(ferry_at "$1" queues --json | tr '{' '\n' |
		grep '"queue":"reply\.' | json_get messages)
	echo "${rw:-0}"
}

ferry_at alpha peers --json | grep -q '"connected":true' &&
	it_harness "alpha has a live link to beta"

# --- alpha: the request waits; its message goes onto the stick
echo "hello from alpha" |
	ferry_at alpha request beta/q --timeout 60s >"$w/reply" 2>"$w/req.err" &
req=$!
it_at_exit "kill -9 $req 2>/dev/null"
wait_until 5 "alpha never queued the request for beta" custody_is alpha 1
expect_eq "alpha opened one reply queue" "$(reply_queues alpha)" 1
ferry_at alpha export "$S" -q >"$w/exp.a" 2>&1 ||
	it_fail "alpha export: $(cat "$w/exp.a")"
grep -q 'beta: 1 messages' "$w/exp.a" ||
	it_fail "alpha export summary: $(cat "$w/exp.a")"
it_ok "the request went onto the stick"

# --- beta: import, answer, export the reply
cp -a "$S" "$w/stick.1" || it_harness "cp"
ferry_at beta import "$S" -q >"$w/imp.b" 2>&1 ||
	it_fail "beta import: $(cat "$w/imp.b")"
grep -q 'imported 1 messages' "$w/imp.b" ||
	it_fail "beta import summary: $(cat "$w/imp.b")"
queue_is beta q 1 || it_fail "the request is not in beta/q"
it_ok "the request waits in beta/q"
FERRY_SOCKET=$(node_sock beta) "$FERRY" consume q --reply -- \
	sh -c "echo run >>'$w/runs'; tr a-z A-Z" \
	>"$w/consume.out" 2>"$w/consume.err" &
cons=$!
it_at_exit "kill -9 $cons 2>/dev/null"
# The reply is committed before the request is acked: once q is empty,
# the reply waits in beta's custody for alpha.
wait_until 5 "beta's handler did not take the request" queue_is beta q 0
wait_until 2 "no reply in beta's custody for alpha" custody_is beta 1
kill -TERM $cons
wait $cons ||
	it_fail "consume exited $? after SIGTERM: $(cat "$w/consume.err")"
expect_eq "beta's handler ran once" "$(cat "$w/runs")" run

# Nothing reached alpha so far: no live link.
it_alive $req ||
	it_fail "the request ended before the reply came back: $(cat "$w/req.err")"
[ -s "$w/reply" ] &&
	it_fail "alpha printed a reply already: $(cat "$w/reply")"
expect_eq "beta still holds the reply for alpha" "$(custody_for beta)" 1
expect_eq "alpha's reply queue is empty" "$(reply_waiting alpha)" 0
it_ok "no reply at alpha before the stick comes back"

ferry_at beta export "$S" -q >"$w/exp.b" 2>&1 ||
	it_fail "beta export: $(cat "$w/exp.b")"
grep -q 'alpha: 1 messages' "$w/exp.b" ||
	it_fail "beta export summary: $(cat "$w/exp.b")"
it_ok "the reply went onto the stick"

# --- alpha: import; the waiting request prints the reply
cp -a "$S" "$w/stick.2" || it_harness "cp"
ferry_at alpha import "$S" -q >"$w/imp.a" 2>&1 ||
	it_fail "alpha import: $(cat "$w/imp.a")"
grep -q 'imported 1 messages' "$w/imp.a" ||
	it_fail "alpha import summary: $(cat "$w/imp.a")"
i=0
while it_alive $req && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
it_alive $req && it_fail "the request still waits 5 s after its reply was" \
	"imported (alpha's reply queue holds $(reply_waiting alpha))"
rc=0
wait $req || rc=$?
expect_eq "the request exits 0 once the reply is imported" "$rc" 0
expect_eq "it printed beta's reply" "$(cat "$w/reply")" "HELLO FROM ALPHA"
expect_eq "alpha's reply queue is closed" "$(reply_queues alpha)" 0
wait_until 2 "alpha kept custody of the request" custody_is alpha 0
it_ok "the custody receipt came back to alpha on the stick"

# --- the same stick again (as it was before each import): nothing twice
ferry_at beta import "$w/stick.1" -q >"$w/imp2.b" 2>&1 ||
	it_fail "beta second import: $(cat "$w/imp2.b")"
grep -q 'already imported' "$w/imp2.b" ||
	it_fail "beta: the replay was not refused: $(cat "$w/imp2.b")"
grep -q 'imported 0 messages' "$w/imp2.b" ||
	it_fail "beta imported something again: $(cat "$w/imp2.b")"
queue_is beta q 0 || it_fail "beta/q holds the request again"
it_ok "beta/q stays empty"
ferry_at alpha import "$w/stick.2" -q >"$w/imp2.a" 2>&1 ||
	it_fail "alpha second import: $(cat "$w/imp2.a")"
grep -q 'already imported' "$w/imp2.a" ||
	it_fail "alpha: the replay was not refused: $(cat "$w/imp2.a")"
grep -q 'imported 0 messages' "$w/imp2.a" ||
	it_fail "alpha imported something again: $(cat "$w/imp2.a")"
queue_is alpha dead 0 || it_fail "a second reply in alpha's dead"
it_ok "no second reply in alpha's dead"
expect_eq "no reply queue reopened at alpha" "$(reply_queues alpha)" 0
expect_eq "beta's handler still ran once" "$(cat "$w/runs")" run
it_ok "a second import of the same stick delivers nothing twice"

stop_node alpha
stop_node beta
it_pass
