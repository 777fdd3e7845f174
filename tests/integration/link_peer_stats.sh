#!/bin/sh
# link_peer_stats.sh - the per-peer counters of `ferry peers` (last seen,
# bytes and messages both ways, the last error) survive a restart of
# ferryd (issue 12 item 16): they are kept in the store when a session
# ends and every 30 s while one runs, and loaded at start.  alpha dials
# beta and sends 20 messages; beta is stopped (the session ends), then
# alpha is restarted while beta is away: its counters are those of before
# the restart (beta away, so that nothing is counted meanwhile: last seen
# and bytes must be equal).  beta, restarted, shows what it counted before too.
# About 5 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

make_node alpha
make_node beta
node_listen beta "$(it_free_port)"
node_peer alpha beta
node_peer beta alpha
start_agent beta
start_agent alpha
use_node alpha
i=0
while [ $i -lt 20 ]; do
	echo "message $i" | "$FERRY" send beta/q >/dev/null || it_fail "send $i"
	i=$((i + 1))
done
wait_count beta q 20 30 || it_fail "beta/q: $(ferry_at beta queues --json)"
# Custody of the last ones may still be committing at alpha.
i=0
while [ "$(ferry_at alpha peers --json | json_get messages_out)" != 20 ]; do
	[ $i -gt 100 ] && it_fail "alpha: messages_out $(ferry_at alpha peers --json)"
	sleep 0.1
	i=$((i + 1))
done

stats() { # NODE: the counters, one line
	j=$(ferry_at "$1" peers --json) || it_fail "$1: ferry peers"
	for k in last_seen bytes_in bytes_out messages_in messages_out; do
		v=$(echo "$j" | json_get $k)
		[ -n "$v" ] || it_fail "$1: no $k in $j"
		printf '%s=%s ' $k "$v"
	done
}
stop_node beta
sleep 0.5 # alpha notices the session ended
a0=$(stats alpha)
err0=$(ferry_at alpha peers --json | json_get last_error)
it_note "alpha before: $a0 ($err0)"
case $a0 in
*" messages_out=20 "*) ;;
*) it_fail "alpha before the restart: $a0" ;;
esac
case $a0 in
*"bytes_out=0 "* | *"bytes_in=0 "* | *"last_seen=0 "* | *"last_seen=null "*)
	it_fail "alpha counted nothing: $a0" ;;
esac
stop_node alpha
start_agent alpha
a1=$(stats alpha)
expect_eq "alpha's counters after a restart" "$a1" "$a0"

# (its last error is the failed dial to beta by now.)
# beta: its counters were kept when alpha's session ended at its stop.
start_agent beta
b1=$(stats beta)
it_note "beta after: $b1"
case $b1 in
*" messages_in=20 "*) ;;
*) it_fail "beta after its restart: $b1" ;;
esac
case $b1 in
*"bytes_in=0 "*) it_fail "beta's bytes in were reset: $b1" ;;
esac
it_ok "beta's counters after a restart"
stop_node alpha
stop_node beta
it_pass
