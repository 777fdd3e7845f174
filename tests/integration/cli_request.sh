#!/bin/sh
# cli_request.sh - `ferry request` and `ferry consume --reply` against
# live agents (docs/protocol.md §4, "Request and reply"):
#   (a) one node: a consume --reply handler (tr a-z A-Z) answers, and
#       `echo hello | ferry request NODE/svc` prints HELLO; a 3 MB
#       request and its reply stream through both ends intact; a message
#       without reply-to is handled and acked, nothing sent; a failing
#       handler sends no reply; the reply queues are closed after (not
#       listed by `ferry queues`);
#       libferry's ferry_request (request_client) does the same;
#   (b) two nodes over TCP: a request from alpha to beta/svc is answered
#       by beta's handler, and the reply comes back to alpha;
#   (c) --timeout 1s to a queue nobody consumes: exit status 7 within
#       about 2 s;
#   (d) a reply that comes after the timeout (a handler slower than the
#       timeout) lies in alpha's dead queue with the reason "no one
#       waiting", not in a reply queue.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

w=$IT_TMP/work
make_node alpha '[limits]' 'sweep_interval = 100ms'
make_node beta '[limits]' 'sweep_interval = 100ms'
mkdir "$w" || it_harness "mkdir $w"
node_listen beta "$(it_free_port)"
node_peer alpha beta
node_peer beta alpha
start_agent beta
start_agent alpha

# consume_at NODE NAME ARGS...: `ferry consume ARGS...` at NODE in the
# background, its stderr in $w/NAME.err; killed at exit.
consume_at() {
	ca_node=$1
	ca_name=$2
	shift 2
	FERRY_SOCKET=$(node_sock "$ca_node") "$FERRY" consume "$@" \
		>"$w/$ca_name.out" 2>"$w/$ca_name.err" &
	it_at_exit "kill -9 $! 2>/dev/null"
}

# reply_queues NODE: how many reply.* queues NODE lists.
reply_queues() {
	ferry_at "$1" queues --json | tr '{' '\n' | grep -c '"queue":"reply\.'
}

# ------------------------------------------------------------ (a) one node
use_node alpha
consume_at alpha upper --reply svc -- tr a-z A-Z
out=$(echo hello | "$FERRY" request alpha/svc --timeout 20s) ||
	it_fail "request to alpha/svc: exit $?"
expect_eq "a request answered on one node" "$out" HELLO

out=$("$IT_BIN/request_client" "$(node_sock alpha)" alpha/svc 20000 libferry) ||
	it_fail "request_client: exit $?"
expect_eq "ferry_request answered, its reply queue closed" "$out" LIBFERRY

it_gen 7 3000000 | base64 -w 76 >"$w/big" || it_harness "it_gen"
"$FERRY" request alpha/svc "$w/big" --timeout 30s >"$w/big.reply" ||
	it_fail "3 MB request: exit $?"
tr a-z A-Z <"$w/big" | cmp -s - "$w/big.reply" ||
	it_fail "the 3 MB reply differs from the request in upper case"
it_ok "a 3 MB request and its reply stream through intact"

# Without reply-to: handled and acked, no reply sent.
echo plain | "$FERRY" send alpha/svc >/dev/null || it_fail "send plain"
i=0
while [ "$(queue_count svc)" != 0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
expect_eq "a message without reply-to is handled and acked" \
	"$(queue_count svc)" 0
expect_eq "its output went to consume's standard output" \
	"$(cat "$w/upper.out")" PLAIN

# A failing handler does not reply (and the request times out).
consume_at alpha fails --reply --max-deliveries 1 flaky -- \
	sh -c 'echo partial answer; exit 3'
rc=0
out=$(echo x | "$FERRY" request alpha/flaky --timeout 2s 2>/dev/null) || rc=$?
expect_eq "a failing handler sends no reply: request times out" "$rc" 7
expect_eq "nothing printed" "$out" ""
i=0
until grep -q 'moved to dead' "$w/fails.err" || [ $i -ge 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
"$FERRY" recv dead --json >"$w/dead.a" || it_fail "recv dead"
grep -q '"dead_reason":"handler failed"' "$w/dead.a" ||
	it_fail "the failed request is not in dead: $(cat "$w/dead.a")"
it_ok "the failed request lies in dead (handler failed)"
expect_eq "reply queues closed after use" "$(reply_queues alpha)" 0

# -------------------------------------------------------- (b) two nodes
consume_at beta beta_upper --reply svc -- sh -c 'printf "%s from " \
	"$(tr a-z A-Z)"; echo "$FERRY_SOCKET" | grep -q beta && echo beta'
out=$(echo hello | "$FERRY" request beta/svc --timeout 30s) ||
	it_fail "request from alpha to beta/svc: exit $?"
expect_eq "alpha's request answered by beta's handler" "$out" \
	"HELLO from beta"

# ------------------------------------------------------------ (c) timeout
t0=$(it_now_ms)
rc=0
echo lonely | "$FERRY" request alpha/nobody --timeout 1s \
	>/dev/null 2>"$w/timeout.err" || rc=$?
t=$(($(it_now_ms) - t0))
expect_eq "no reply: exit status 7" "$rc" 7
[ "$t" -lt 2500 ] || it_fail "the 1 s timeout took $t ms"
it_ok "the 1 s timeout ended after $t ms"
grep -q 'no reply from alpha/nobody within 1s' "$w/timeout.err" ||
	it_fail "stderr: $(cat "$w/timeout.err")"
it_ok "it says so on stderr"
rc=0
"$IT_BIN/request_client" "$(node_sock alpha)" alpha/nobody 500 x || rc=$?
expect_eq "ferry_request without a reply: FERRY_ETIMEDOUT" "$rc" 7

# ------------------------------------------------------- (d) late reply
consume_at beta slow --reply slow -- sh -c 'sleep 2; tr a-z A-Z'
rc=0
echo late | "$FERRY" request beta/slow --timeout 1s >/dev/null 2>&1 || rc=$?
expect_eq "a handler slower than the timeout: exit 7" "$rc" 7
i=0
while [ "$(queue_count dead)" = 0 ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
"$FERRY" recv dead --json >"$w/dead.d" || it_fail "no late reply in dead"
grep -q '"dead_reason":"no one waiting"' "$w/dead.d" ||
	it_fail "the late reply's dead reason: $(cat "$w/dead.d")"
it_ok "the late reply lies in alpha's dead, reason \"no one waiting\""
grep -q '"src":"beta"' "$w/dead.d" || it_fail "from beta? $(cat "$w/dead.d")"
payload=$(json_get payload_b64 <"$w/dead.d" | base64 -d)
expect_eq "it is the reply" "$payload" LATE
expect_eq "no reply queue holds it" "$(reply_queues alpha)" 0

it_pass
