#!/bin/sh
# http_fallback.sh - a peer with both `tcp =` and `http =` (docs/http.md,
# "TCP first"): TCP carries while it works; when TCP cannot connect (its
# path, a TCP proxy here, is gone) HTTP takes over without an operator,
# and `ferry peers` says so and why; when TCP is back, TCP carries again
# and HTTP falls quiet.  Messages both ways in every phase, exactly once.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

T=$IT_TMP
PROXY=$(it_helper fault_proxy) || exit 99

make_node base "[limits]" "sweep_interval = 250ms"
make_node field "[limits]" "sweep_interval = 250ms"
node_listen base "$(it_free_port)"
hport=$(it_free_port)
printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$hport" >>"$T/base/ferry.conf"
node_peer base field "keepalive = 1s"
# field reaches base's TCP only through a proxy this test can take away.
tport=$(it_free_port)
node_peer field base "keepalive = 1s" "dial = always" \
	"http = http://127.0.0.1:$hport/ferry" "poll = 10s"
sed -i "s|^tcp = 127.0.0.1:$(node_port base)\$|tcp = 127.0.0.1:$tport|" \
	"$T/field/ferry.conf"
grep -q "tcp = 127.0.0.1:$tport" "$T/field/ferry.conf" || it_harness "sed"

tcp_up() {
	"$PROXY" --target "$(node_port base)" --listen "$tport" \
		--port-file "$T/proxy.port" >/dev/null 2>"$T/proxy.log" &
	px=$!
	it_wait_proxy $px "$T/proxy.port" "$T/proxy.log"
}
tcp_down() {
	kill $px 2>/dev/null
	wait $px 2>/dev/null
	rm -f "$T/proxy.port"
}
it_at_exit 'kill $px 2>/dev/null'

# via_is NODE WANT SECS: until field's (or base's) peer shows WANT
via_is() {
	vi_i=0
	while [ $vi_i -lt $(($3 * 10)) ]; do
		[ "$(ferry_at "$1" peers --json | json_get via)" = "$2" ] && return 0
		sleep 0.1
		vi_i=$((vi_i + 1))
	done
	return 1
}

n=0
round() { # WHAT: one message each way, both must arrive
	n=$((n + 1))
	echo "up $n" | ferry_at field send base/up >/dev/null || it_fail "send up"
	echo "down $n" | ferry_at base send field/down >/dev/null ||
		it_fail "send down"
	wait_count base up 1 30 || it_fail "$1: field -> base did not arrive"
	wait_count field down 1 30 || it_fail "$1: base -> field did not arrive"
	expect_eq "$1: up" "$(ferry_at base recv up)" "up $n"
	expect_eq "$1: down" "$(ferry_at field recv down)" "down $n"
}

# --- 1. TCP works: TCP carries, HTTP stays quiet
tcp_up
start_agent base
start_agent field
via_is field tcp 15 || it_fail "TCP did not come up: $(ferry_at field peers)"
round "over TCP"
via_is field tcp 1 || it_fail "not over tcp: $(ferry_at field peers)"
it_ok "TCP carries while it works"

# --- 2. TCP cannot connect: HTTP takes over, by itself
tcp_down
via_is field http 30 || it_fail "HTTP did not take over: $(ferry_at field peers)"
ferry_at field peers --json | json_get last_error | grep -q '^tcp: ' ||
	it_fail "peers does not say why: $(ferry_at field peers --json)"
round "TCP blocked"
round "TCP still blocked"
it_ok "HTTP took over; ferry peers says tcp failed"

# --- 3. TCP is back: TCP carries again
tcp_up
via_is field tcp 30 || it_fail "TCP did not come back: $(ferry_at field peers)"
round "TCP back"
via_is field tcp 1 || it_fail "not over tcp again: $(ferry_at field peers)"
it_ok "TCP carries again once it connects"
it_check_alive "the end" base field
it_pass
