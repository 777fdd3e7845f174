#!/bin/sh
# make demo: one ferry node, end to end, narrated, in a temporary
# directory.  Uses the built (not installed) programs of BUILDDIR.
set -eu
builddir=${1:-.}
ferry="$builddir/cli/ferry"
ferryd="$builddir/agent/ferryd"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "1. Create a node called 'field-07' (keys and a commented ferry.conf)"
run "$ferry" init --dir "$dir/node" --name field-07 | sed 's/^/   /'
export FERRY_SOCKET="$dir/node/ferry.sock"

say "2. Start the agent"
"$ferryd" -c "$dir/node/ferry.conf" 2>"$dir/ferryd.log" &
pid=$!
i=0
until "$ferry" info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/ferryd.log"; exit 1; }
	sleep 0.1
done
run "$ferry" info

say "3. Applications hand it messages: bulk, normal and urgent"
echo "weekly log archive" | run "$ferry" send field-07/reports --priority 0
echo "water level 3.2 m" | run "$ferry" send field-07/reports
echo "PUMP 2 FAILED" | run "$ferry" send field-07/reports --urgent
printf '$ %s\n' "ferry send base/reports"
far=$(echo "daily summary" | "$ferry" send base/reports)
echo "$far"
echo "   (that last one is for node 'base': it waits on the outbound side)"

say "4. Browse without taking anything"
run "$ferry" recv reports --peek
run "$ferry" queues

say "5. Receive: urgent first, each acked once written"
run "$ferry" recv reports --count 3

say "6. A message that must not outlive 2 seconds"
id=$(echo "gate code 4711" | "$ferry" send field-07/reports --ttl 2s)
echo "   sent $id; waiting 3 s ..."
sleep 3
run "$ferry" recv reports || echo "   (exit $?: nothing to receive: it expired)"
run "$ferry" recv dead --json
grep "expired" "$dir/ferryd.log" | sed 's/^/   log: /'

say "7. The message for 'base' is kept until a link to base exists"
run "$ferry" status "$far"
run "$ferry" status

say "Done: stopping the agent (SIGTERM)"
kill "$pid"
wait "$pid" || true
pid=""
tail -2 "$dir/ferryd.log" | sed 's/^/   log: /'
