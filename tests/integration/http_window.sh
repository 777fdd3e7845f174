#!/bin/sh
# http_window.sh - [peer] window = over HTTP (docs/routing.md section 6):
# a field node that reaches its base only over HTTP makes no call outside
# its contact windows (no poll held open, nothing uploaded), says until
# when in its log and in `ferry why`, and calls at once when the window
# is removed (a restart).  About 5 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node base
make_node field
hport=$(it_free_port)
printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$hport" >>"$T/base/ferry.conf"
node_peer base field
tomorrow=$(date -u -d tomorrow +%a | tr 'A-Z' 'a-z')
node_peer field base "http = http://127.0.0.1:$hport/ferry" "poll = 10s" \
	"window = $tomorrow 00:00-00:01 UTC"
start_agent base
start_agent field

id=$(echo windowed | ferry_at field send base/in) || it_fail "send"
sleep 3
expect_eq "base/in outside the window" "$(FERRY_SOCKET=$(node_sock base) queue_count in)" 0
ferry_at field why "$id" | grep -q 'outside the contact windows of next hop base: next at' ||
	it_fail "ferry why: $(ferry_at field why "$id")"
grep -q 'http base: outside its contact windows (window =); next call at' "$(node_log field)" ||
	it_fail "no log line about the window: $(tail -n 5 "$(node_log field)")"
# The base has never heard from field (no request of field's reached it).
ferry_at base peers --json | grep -q '"last_seen"' &&
	it_fail "base heard from field outside the window: $(ferry_at base peers --json)"
it_ok "outside its window the field node makes no HTTP call; why and the log say until when"

stop_node field
sed -i '/^window = /d' "$(node_conf field)"
start_agent field
wait_count base in 1 30 || it_fail "the message did not come once the window was gone"
ferry_at base peers --json | grep -q '"last_seen"' ||
	it_fail "base's peers do not show field's call: $(ferry_at base peers --json)"
it_ok "without the window it calls at once"
it_pass
