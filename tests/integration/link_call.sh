#!/bin/sh
# link_call.sh - the way back (issue 12 item 3): a base that cannot dial
# a field node (no address for it: the field is behind NAT) holds what
# waits for the field until the field calls.  With `call_every = 2s` the
# field calls by itself, with nothing of its own to send, and collects
# the message within a few seconds; `ferry peers` at the base says it
# waits for the field to call.  With `call_every = 0` the field never
# calls and the message stays at the base.  About 10 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
make_node base
make_node field
make_node quiet
node_listen base "$(it_free_port)"
node_peer field base "call_every = 2s"
node_peer quiet base "call_every = 0"
node_peer base field
node_peer base quiet
start_agent base
start_agent field
start_agent quiet
use_node base
printf 'for field' | "$FERRY" send field/in >/dev/null || it_fail "base: send"
printf 'for quiet' | "$FERRY" send quiet/in >/dev/null || it_fail "base: send"
"$FERRY" peers >"$T/peers" || it_fail "ferry peers"
grep -q "waits for quiet to call" "$T/peers" ||
	it_fail "peers at the base does not say it waits for quiet: $(cat "$T/peers")"
it_ok "the base says it waits for quiet to call"
wait_count field in 1 10 ||
	it_fail "field did not collect within 10 s: $(tail -n 5 "$(node_log field)")"
it_ok "field called by itself and collected its message"
grep -q "calling to collect" "$(node_log field)" ||
	it_fail "field's log does not say it called"
sleep 3
use_node quiet
expect_eq "quiet (call_every = 0) never called: its queue" "$(queue_count in)" 0
use_node base
expect_eq "the message for quiet still waits at the base" \
	"$("$FERRY" peers --json | grep -o '"peer":"quiet"[^}]*' |
		grep -o '"queued_messages":[0-9]*' | cut -d: -f2)" 1
# Again after the base was down a while: the field calls again (its
# calls go on, with backoff while the base is away).
stop_node base
sleep 3
start_agent base
use_node base
printf 'again' | "$FERRY" send field/in >/dev/null || it_fail "base: send again"
wait_count field in 2 15 ||
	it_fail "field did not call again within 15 s: $(tail -n 5 "$(node_log field)")"
it_ok "after the base came back, field called again and collected"
stop_node field
stop_node quiet
stop_node base
it_pass
