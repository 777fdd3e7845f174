#!/bin/sh
# link_fleet.sh - 20 field nodes on one base (issue 16): bench_fleet
# --smoke runs 20 simulated nodes in one thread, each with its own
# identity and Noise session to one ferryd over loopback; for 4 s each
# sends a message a second and one of 300 KiB (the RESUME path), and the
# base sends one to each.  Fails unless every session came up and every
# message arrived exactly once: the base's queue against the ids the
# nodes sent, each node's message from the base against the id ferry_send
# returned.  The smoke run of `make bench-fleet` (bench/README.md).
# About 5 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

FLEET=$top_builddir/bench/bench_fleet
[ -x "$FLEET" ] || it_harness "$FLEET is not built (make check builds it)"
"$FLEET" --smoke "$IT_TMP" "$FERRYD" >"$IT_TMP/fleet.out" 2>"$IT_TMP/fleet.err"
rc=$?
sed 's/^/# /' "$IT_TMP/fleet.out"
if [ $rc != 0 ]; then
	sed 's/^/# /' "$IT_TMP/fleet.err"
	it_fail "bench_fleet --smoke exited with status $rc"
fi
grep -q '^ *20 .* yes ' "$IT_TMP/fleet.out" ||
	it_fail "no row for N = 20 that says exactly once"
it_ok "20 sessions up, every message exactly once"
it_pass
