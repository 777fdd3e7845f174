#!/bin/sh
# link_cut.sh - cut-through (docs/session.md §4): a large message sent on
# alpha while its session with beta is up crosses while it comes in, not
# after.  A 48 MiB stream stops half-way on the client's side: beta
# already holds most of those 24 MiB as a partial, and has not stored the
# message; once the rest comes and alpha commits, beta stores it, whole
# and once, and alpha says "handed".  A second one whose client dies
# half-way: alpha drops it, the session starts over (beta must stop
# waiting for its bytes), beta keeps what it got as a partial and never
# delivers it, and what is sent next still goes.  Then two with a chosen
# id, cut half-way: the same one again resumes on both sides; a shorter
# one under the same id replaces what beta kept.  And alpha killed -9
# half-way: the same send after its restart arrives whole, once.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
BIG=$(it_helper big_message) || exit 99
size=$((48 * 1024 * 1024))
half=$((24 * 1024 * 1024))
make_node alpha
make_node beta
node_listen beta "$(it_free_port)"
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
use_node alpha
connected() { [ "$("$FERRY" peers --json | json_get connected)" = true ]; }
wait_until 10 "alpha never connected to beta" connected

# beta's partial payloads of at least $1 bytes (durable so far)
partials_over() {
	(use_node beta; "$FERRY" status --partials --json) |
		grep -o '"bytes": *[0-9]*' | grep -o '[0-9]*$' |
		awk -v min="$1" '$1 >= min { n++ } END { print n + 0 }'
}
# $1 or more of beta's partials hold 16 MiB or more
partials_at() { [ "$(partials_over $((16 * 1024 * 1024)))" -ge "$1" ]; }

# send_cut SEED N: a 48 MiB send on alpha that stops half-way, killed once
# N of beta's partials hold 16 MiB or more (this one among them)
send_cut() {
	"$BIG" send "$(node_sock alpha)" beta/big "$size" "$1" "$half" \
		"$T/never" >/dev/null 2>"$T/send_cut.err" &
	sc_pid=$!
	wait_until 20 "seed $1: not at beta while it comes in" partials_at "$2"
	kill -9 $sc_pid
	wait $sc_pid 2>/dev/null
	# Until alpha has let go of it (dropped, or kept for a resend with
	# its id): a resend meanwhile is answered "busy", as it should be.
	wait_until 20 "alpha still receives seed $1 after its client died" \
		let_go
}
# alpha receives no local stream now
let_go() {
	[ "$("$FERRY" status --partials --json | json_get receiving)" != true ]
}
# $1 (an id) is handed over at alpha
handed() { [ "$("$FERRY" status "$1" --json | json_get status)" = handed ]; }

# send_whole SIZE SEED: a send on alpha to its end; beta stores it, and
# its copy is every byte as sent
send_whole() {
	"$BIG" send "$(node_sock alpha)" beta/big "$1" "$2" >"$T/id" \
		2>"$T/send.err" || it_fail "seed $2: $(cat "$T/send.err")"
	wait_count beta big 1 30 || it_fail "beta did not store seed $2"
	"$BIG" recv "$(node_sock beta)" big "$1" "$2" "$(cat "$T/id")" \
		2>"$T/recv.err" || it_fail "beta's copy: $(cat "$T/recv.err")"
}

# --- 1. half of it at beta before alpha has the whole
"$BIG" send "$(node_sock alpha)" beta/big "$size" 7 "$half" "$T/go" \
	>"$T/id" 2>"$T/send.err" &
sp=$!
wait_until 20 "beta holds no 16 MiB while alpha's client waits half-way: not sent while it comes in" \
	partials_at 1
expect_eq "beta has not stored it yet" "$(use_node beta; queue_count big)" 0
it_ok "16 MiB or more at beta while alpha's client is half-way"
touch "$T/go"
wait $sp || it_fail "the send failed: $(cat "$T/send.err")"
id=$(cat "$T/id")
wait_count beta big 1 30 || it_fail "beta did not store it"
"$BIG" recv "$(node_sock beta)" big "$size" 7 "$id" 2>"$T/recv.err" ||
	it_fail "beta's copy: $(cat "$T/recv.err")"
wait_until 10 "alpha: not handed" handed "$id"
grep -q "sent to beta while it comes in" "$(node_log alpha)" ||
	it_fail "alpha's log does not say it went cut-through"
it_ok "whole and once at beta, handed at alpha"

# --- 2. the client dies half-way
ended0=$(grep -c "session ended" "$(node_log alpha)")
send_cut 8 1
wait_until 10 "alpha did not give the transfer up" \
	grep -q "its local sender stopped before the end" "$(node_log alpha)"
id2=$(echo after | "$FERRY" send beta/small) || it_fail "send after"
wait_count beta small 1 20 || it_fail "a message sent next did not go"
[ "$(grep -c "session ended" "$(node_log alpha)")" -gt "$ended0" ] ||
	it_fail "the session went on"
expect_eq "nothing more at beta" "$(use_node beta; queue_count big)" 0
n=$(use_node beta; "$FERRY" status --partials --json | grep -c '"id"')
expect_eq "beta keeps one partial" "$n" 1
expect_eq "alpha keeps nothing of it" \
	"$("$FERRY" status --partials --json | grep -c '"id"')" 0
it_ok "given up: a partial at beta, nothing at alpha, the link goes on"

# --- 3. cut with a chosen id, then sent again with it: alpha resumes its
# own partial, beta goes on from what it kept (its prefix hashed on both
# sides), and the message arrives whole, once
BIG_MESSAGE_ID=0123456789abcdef0123456789abcdef
export BIG_MESSAGE_ID
resumed0=$(grep -c "resuming message" "$(node_log beta)")
send_cut 9 2
t0=$(it_now_ms)
send_whole "$size" 9
unset BIG_MESSAGE_ID
# The sender hashes its 16-24 MiB prefix first: a fraction of a second.
# It used to wait for its idle timer (a third of the keep-alive, 10 s)
# before it began: a RESUME that started a seek did not count as work.
[ $(($(it_now_ms) - t0)) -lt 6000 ] ||
	it_fail "the resumed transfer took $(($(it_now_ms) - t0)) ms (a seek that waited for the idle timer?)"
[ "$(grep -c "resuming message" "$(node_log beta)")" -gt "$resumed0" ] ||
	it_fail "beta did not go on from what it kept"
grep -q "the client resends a cut stream" "$(node_log alpha)" ||
	it_fail "alpha did not resume its own partial"
it_ok "sent again with its id: resumed on both sides, whole and once"

# --- 4. cut with a chosen id, then a shorter message under that id: beta
# drops what it kept (more than the new one) and takes the new one whole;
# kept, it would refuse that message for ever
BIG_MESSAGE_ID=00112233445566778899aabbccddeeff
export BIG_MESSAGE_ID
send_cut 10 2
short=$((4 * 1024 * 1024))
send_whole "$short" 11
unset BIG_MESSAGE_ID
grep -q "more than the $short now offered" "$(node_log beta)" ||
	it_fail "beta does not say it dropped what it kept"
it_ok "a shorter message under a cut one's id: the kept part dropped, the new one whole"

# --- 5. kill -9 of alpha itself half-way (beta may hold more of it than
# alpha had made durable), then the same send with its id again after
# the restart: whole and once at beta
BIG_MESSAGE_ID=ffeeddccbbaa99887766554433221100
export BIG_MESSAGE_ID
"$BIG" send "$(node_sock alpha)" beta/big "$size" 12 "$half" "$T/never" \
	>/dev/null 2>"$T/send5.err" &
sp=$!
wait_until 20 "seed 12: not at beta" partials_at 2
kill9_node alpha
kill -9 $sp # it waits half-way without a word to say to the dead agent
wait $sp 2>/dev/null
start_agent alpha
send_whole "$size" 12
unset BIG_MESSAGE_ID
expect_eq "nothing more at beta" "$(use_node beta; queue_count big)" 0
it_ok "alpha killed half-way, sent again after its restart: whole and once"
it_check_alive "the end" alpha beta
it_pass
