#!/bin/sh
# agent_flood.sh - a client that pipelines thousands of requests and never
# reads the answers must not grow ferryd's memory without bound nor stall
# other clients: ferryd stops reading from it once 4 MiB of answers wait
# (agent/agent.h, AGENT_OUTPUT_MAX).  Before that bound, 20,000 BROWSEs of
# a 300-message queue took ferryd past 180 MiB.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

FLOOD=$(it_helper flood_client) || exit 99
BIG=$(it_helper big_message) || exit 99

start_node alpha
pid=$(node_pid alpha)
i=0
while [ $i -lt 300 ]; do
	head -c 1024 /dev/zero | "$FERRY" send alpha/flood >/dev/null ||
		it_fail "send $i failed"
	i=$((i + 1))
done
expect_eq "flood queue filled" "$(queue_count flood)" 300

"$FLOOD" "$FERRY_SOCKET" flood 20000 6 >"$IT_TMP/flood.out" 2>&1 &
fpid=$!
sleep 3
# Others are served while the flood waits.
"$FERRY" info >/dev/null || it_fail "another client was not served"
echo hi | "$FERRY" send alpha/other >/dev/null ||
	it_fail "a send was not served during the flood"
rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
it_note "ferryd peak RSS during the flood: ${rss} KiB"
limit=65536
# ASan's shadow memory and quarantine are not ferryd's: a looser bound.
if "$BIG" asan; then limit=786432; fi
[ "${rss:-0}" -lt $limit ] || it_fail "ferryd grew to ${rss} KiB"
wait $fpid
cat "$IT_TMP/flood.out"
it_alive "$pid" || it_fail "ferryd died"
expect_eq "other queue" "$(queue_count other)" 1
stop_node alpha
it_pass
