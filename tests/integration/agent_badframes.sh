#!/bin/sh
# agent_badframes.sh - malformed frames on the control socket
# (raw_frames.c): garbage, unknown flag bits, reserved bytes, lengths
# below 8 and above 1 MiB (refused from the header alone, promptly), a
# truncated frame or header followed by a close, a duplicate field, a NUL
# in a string, a field of the wrong size, DATA outside a stream, a request
# inside a payload stream, unknown request types.  Each on its own
# connection: ferryd answers ERROR where it can and closes only that one
# (an unknown request type keeps it), while another client keeps sending
# and receiving after every case.  ferryd must still run at the end.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

RAW=$(it_helper raw_frames) || exit 99

start_node alpha
pid=$(node_pid alpha)
timeout 120 "$RAW" "$FERRY_SOCKET"
rc=$?
if ! it_alive "$pid"; then
	it_reap "$pid"
	st=$?
	[ $st -gt 128 ] && [ $st -ne 255 ] && st="$st (signal $((st - 128)))"
	it_fail "ferryd died during the bad frames (exit status $st)"
fi
[ $rc -eq 124 ] && it_fail "raw_frames hung"
[ $rc -eq 99 ] && it_harness "raw_frames broke"
[ $rc -eq 0 ] || it_fail "some bad frames were not handled as they should"
it_ok "ferryd survived every bad frame"

expect_eq "a send through ferry afterwards" \
	"$(printf after | "$FERRY" send alpha/after >/dev/null && "$FERRY" recv after)" \
	after
n=$(grep -c "protocol error\|malformed" "$(node_log alpha)")
[ "$n" -ge 10 ] || it_fail "only $n bad frames were logged"
it_ok "$n bad frames logged"

stop_node alpha
it_pass
