#!/bin/sh
# make demo: one ferry node end to end, then a second one it forwards to
# over TCP, then the two with no link at all (a folder as the USB stick),
# narrated, in a temporary directory.  Uses the built (not
# installed) programs of BUILDDIR.
set -eu
builddir=${1:-.}
ferry="$builddir/cli/ferry"
ferryd="$builddir/agent/ferryd"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
pid=""
pid_b=""
cleanup() {
	for p in $pid $pid_b; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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
printf '$ %s\n' "ferry send base/reports --receipt --hold"
far=$(echo "daily summary" | "$ferry" send base/reports --receipt --hold)
echo "$far"
echo "   (that last one is for node 'base', not a peer yet: without --hold"
echo "    it is refused as a likely typo; with it, it waits on the outbound"
echo "    side until base is configured)"

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

say "8. Node 'base' comes up; each node learns the other's card"
run "$ferry" init --dir "$dir/base" --name base | grep -E '^(card|fingerprint)' | sed 's/^/   /'
card_f=$("$ferry" keygen --dir "$dir/node" --json | sed -n 's/.*"card":"\([^"]*\)".*/\1/p')
card_b=$("$ferry" keygen --dir "$dir/base" --json | sed -n 's/.*"card":"\([^"]*\)".*/\1/p')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + $$ % 30000)))
printf '[node]\nlisten = 127.0.0.1:%s\n[peer field-07]\nkey = %s\n' \
	"$port" "$card_f" >>"$dir/base/ferry.conf"
printf '[peer base]\nkey = %s\ntcp = 127.0.0.1:%s\n' "$card_b" "$port" \
	>>"$dir/node/ferry.conf"
echo "   base listens on 127.0.0.1:$port; field-07 knows where to find it"
echo "   (peers are read at start: field-07's agent restarts)"
kill "$pid"
wait "$pid" || true
"$ferryd" -c "$dir/base/ferry.conf" 2>"$dir/base.log" &
pid_b=$!
"$ferryd" -c "$dir/node/ferry.conf" 2>>"$dir/ferryd.log" &
pid=$!
i=0
until "$ferry" --socket "$dir/base/ferry.sock" queues --json 2>/dev/null |
	grep -q '"queue":"reports"'; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/ferryd.log" "$dir/base.log"; exit 1; }
	sleep 0.1
done
grep -E 'session up|received' "$dir/base.log" | sed 's/^/   base log: /'

say "9. field-07 handed the message over, and base sent receipts back"
sleep 0.5
run "$ferry" peers
run "$ferry" status "$far"

say "10. On base, the application receives it (and base sends an 'acked' receipt)"
run "$ferry" --socket "$dir/base/ferry.sock" recv reports
sleep 0.5
run "$ferry" status "$far"

say "11. No link at all: a USB stick (here a folder) carried from field-07 to base"
mkdir -p "$dir/stick"
kill "$pid_b"
wait "$pid_b" || true
echo "   (base is off line: its agent stopped)"
id=$(echo "soil sample 13: pH 5.8" | "$ferry" send base/reports)
echo "   sent $id"
run "$ferry" export "$dir/stick" -q
run "$ferry" status "$id"
kill "$pid"
wait "$pid" || true
echo "   (field-07 goes off line too; the stick travels)"
"$ferryd" -c "$dir/base/ferry.conf" 2>>"$dir/base.log" &
pid_b=$!
i=0
until "$ferry" --socket "$dir/base/ferry.sock" info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/base.log"; exit 1; }
	sleep 0.1
done
run "$ferry" --socket "$dir/base/ferry.sock" import "$dir/stick" -q
run "$ferry" --socket "$dir/base/ferry.sock" recv reports
echo "   ... the stick goes back to field-07 with base's custody receipt:"
"$ferryd" -c "$dir/node/ferry.conf" 2>>"$dir/ferryd.log" &
pid=$!
i=0
until "$ferry" info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/ferryd.log"; exit 1; }
	sleep 0.1
done
run "$ferry" import "$dir/stick" -q
run "$ferry" status "$id"

say "Done: stopping both agents (SIGTERM)"
kill "$pid" "$pid_b"
wait "$pid" || true
wait "$pid_b" || true
pid=""
pid_b=""
tail -2 "$dir/ferryd.log" | sed 's/^/   log: /'
