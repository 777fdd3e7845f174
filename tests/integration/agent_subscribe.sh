#!/bin/sh
# agent_subscribe.sh - push delivery through libferry's non-blocking mode
# (push_subscriber.c: ferry_subscribe, poll() on ferry_fd, ferry_next_msg
# with timeout 0, ferry_credit): messages sent after subscribing arrive
# pushed, in order, never more outstanding than the credit; one sent
# while credit is free arrives within 2 s; a 3 MiB message arrives
# too, its payload fetched.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

SUB=$(it_helper push_subscriber) || exit 99

start_node alpha
pid=$(node_pid alpha)
timeout 120 "$SUB" "$FERRY_SOCKET" pushq
rc=$?
if ! it_alive "$pid"; then
	it_reap "$pid"
	it_fail "ferryd died during the subscription (exit status $?)"
fi
[ $rc -eq 124 ] && it_fail "push_subscriber hung"
[ $rc -eq 99 ] && it_harness "push_subscriber broke"
[ $rc -eq 0 ] || it_fail "push delivery did not behave"
expect_eq "pushq after the subscriber left" "$(queue_count pushq)" 0

stop_node alpha
it_pass
