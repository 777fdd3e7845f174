#!/bin/sh
# http_basic.sh - two real agents over HTTP on loopback (docs/http.md):
# base serves (`http_listen`), field calls (`http =`, no TCP at all).
# 2,000 small messages and a 64 MiB one (200 MiB with FERRY_TEST_LONG=1)
# each way at once arrive exactly
# once and intact; custody comes back (both outbound sides empty); a
# message queued on base while field's poll is open reaches field at once
# (measured: the aim is 1 s), one sent on field goes up at once; `ferry
# peers` says "http" on both sides; a restart of base loses nothing and
# the caller goes on by itself.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
LOAD=$(it_helper load_clients) || exit 99
BIG_MB=64
[ "${FERRY_TEST_LONG:-0}" = 1 ] && BIG_MB=200
big=$((BIG_MB * 1024 * 1024))
it_heavy

make_node base "[limits]" "sweep_interval = 250ms"
make_node field "[limits]" "sweep_interval = 250ms"
port=$(it_free_port)
printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$port" >>"$T/base/ferry.conf"
node_peer base field
node_peer field base "http = http://127.0.0.1:$port/ferry" "poll = 20s"
start_agent base
start_agent field

# --- latency: one message each way while the poll is open
sleep 1
use_node field
t0=$(it_now_ms)
echo up | "$FERRY" send base/lat >/dev/null || it_fail "send up"
wait_count base lat 1 20 || it_fail "field -> base: nothing in 20 s"
up_ms=$(($(it_now_ms) - t0))
use_node base
t0=$(it_now_ms)
echo down | "$FERRY" send field/lat >/dev/null || it_fail "send down"
wait_count field lat 1 20 || it_fail "base -> field: nothing in 20 s"
down_ms=$(($(it_now_ms) - t0))
it_note "one message up in $up_ms ms, down in $down_ms ms (aim: 1 s)"
# Not a timing test: 10 s means the poll or the upload waited for a
# timer instead of being woken.
[ $up_ms -lt 10000 ] && [ $down_ms -lt 10000 ] ||
	it_fail "a message waited for a timer (up $up_ms ms, down $down_ms ms)"
expect_eq "field's payload" "$(ferry_at base recv lat)" up
expect_eq "base's payload" "$(ferry_at field recv lat)" down

j=$(ferry_at field peers --json) || it_fail "peers at field"
expect_eq "field sees base over http" "$(echo "$j" | json_get via)" http
j=$(ferry_at base peers --json) || it_fail "peers at base"
expect_eq "base sees field over http" "$(echo "$j" | json_get via)" http

# --- 2,000 small and 200 MiB each way, at once
it_gen 11 $big >"$T/big.up" || it_harness "gen"
it_gen 12 $big >"$T/big.down" || it_harness "gen"
t0=$(it_now_ms)
"$LOAD" send "$(node_sock field)" base/up 1 4 500 300 2>"$T/load1.err" &
l1=$!
"$LOAD" send "$(node_sock base)" field/down 1 4 500 300 2>"$T/load2.err" &
l2=$!
ferry_at field send base/bigup "$T/big.up" >/dev/null || it_fail "send big up"
ferry_at base send field/bigdown "$T/big.down" >/dev/null ||
	it_fail "send big down"
wait $l1 || it_fail "load_clients at field: $(tail -n 3 "$T/load1.err")"
wait $l2 || it_fail "load_clients at base: $(tail -n 3 "$T/load2.err")"
wait_count base up/00 2000 120 ||
	it_fail "base has $(use_node base; queue_count up/00) of 2000"
wait_count field down/00 2000 120 ||
	it_fail "field has $(use_node field; queue_count down/00) of 2000"
wait_count base bigup 1 120 || it_fail "the big message did not reach base"
wait_count field bigdown 1 120 || it_fail "the big message did not reach field"
it_note "2,000 small + 200 MiB each way in $(($(it_now_ms) - t0)) ms"
it_check_alive "after the bulk" base field

drain() { # NODE QUEUE: the correlations, checked, sorted
	"$LOAD" drain "$(node_sock "$1")" "$2" 2 2>"$T/drain.err" | sort ||
		it_fail "drain $1 $2: $(tail -n 3 "$T/drain.err")"
}
awk 'BEGIN { for (c = 0; c < 4; c++) for (s = 0; s < 500; s++)
	printf "client %03d seq %05d\n", c, s }' | sort >"$T/want"
drain base up/00 >"$T/got.up"
cmp -s "$T/want" "$T/got.up" || it_fail "field -> base: not exactly the 2,000 sent ($(wc -l <"$T/got.up") lines, $(sort "$T/got.up" | uniq -d | wc -l) twice)"
it_ok "field -> base: 2,000 exactly once, bodies checked"
drain field down/00 >"$T/got.down"
cmp -s "$T/want" "$T/got.down" || it_fail "base -> field: not exactly the 2,000 sent ($(wc -l <"$T/got.down") lines)"
it_ok "base -> field: 2,000 exactly once, bodies checked"
ferry_at base recv bigup >"$T/got.bigup" || it_fail "recv big up"
cmp -s "$T/big.up" "$T/got.bigup" || it_fail "the $BIG_MB MiB up differs"
ferry_at field recv bigdown >"$T/got.bigdown" || it_fail "recv big down"
cmp -s "$T/big.down" "$T/got.bigdown" || it_fail "the $BIG_MB MiB down differs"
it_ok "200 MiB each way intact"
rm -f "$T/big.up" "$T/big.down" "$T/got.bigup" "$T/got.bigdown"

# Custody came back: nothing is left outbound on either side.
i=0
while :; do
	a=$(ferry_at field peers --json | json_get queued_messages)
	b=$(ferry_at base peers --json | json_get queued_messages)
	[ "$a" = 0 ] && [ "$b" = 0 ] && break
	i=$((i + 1))
	[ $i -gt 300 ] && it_fail "still outbound after 30 s: field $a, base $b"
	sleep 0.1
done
it_ok "custody came back both ways"
expect_eq "base's queue after draining" "$(use_node base; queue_count up/00)" 0
expect_eq "no more arrive (nothing twice)" \
	"$(sleep 2; use_node field; queue_count down/00)" 0

# --- base restarts: field's next messages still go, and base's too
stop_node base
echo during | ferry_at field send base/later >/dev/null || it_fail "send"
sleep 1
start_agent base
wait_count base later 1 30 || it_fail "after base's restart, nothing came"
echo after | ferry_at base send field/later >/dev/null || it_fail "send"
wait_count field later 1 30 || it_fail "after base's restart, nothing went"
it_ok "base restarted: both ways again, no operator"
it_check_alive "the end" base field
it_pass
