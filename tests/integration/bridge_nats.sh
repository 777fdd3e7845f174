#!/bin/sh
# bridge_nats.sh - [bridge NAME] (docs/bridge.md) against a real NATS
# JetStream cluster: three nats-server processes on loopback, stream FIELD
# with three replicas.  N messages (1,000; 10,000 with FERRY_TEST_LONG=1)
# arrive in the base's reports/* queues and are bridged into the stream
# while one NATS server is killed and restarted and ferryd is killed -9
# twice: the stream holds each exactly once.  M messages published on
# ferry.out.> with Ferry-To: base/fromnats reach that queue exactly once,
# ferryd killed -9 once meanwhile.  With the whole cluster down the bridge
# waits: messages stay in ferry and go once it is back.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not
. "$(dirname "$0")/lib_nats.sh"

T=$IT_TMP
nats_setup
LOAD=$(it_helper load_clients) || exit 99
if [ "${FERRY_TEST_LONG:-0}" = 1 ]; then N=10000; else N=1000; fi
M=100

# --- the cluster
for i in 1 2 3; do nats_start $i; done
"$TOOL" "$URLS" create FIELD 'ferry.>' 3 120 ||
	it_fail "cannot create the stream: $(tail -n 5 "$T/nats1.log")"
it_ok "a 3-node JetStream cluster with stream FIELD (R3, 2 min duplicate window)"

make_node base "[limits]" "sweep_interval = 250ms"
cat >>"$(node_conf base)" <<EOF
[bridge field]
nats = $URLS
stream = FIELD
queues = reports*
subject = ferry.in.{node}.{queue}
outbound = ferry.out.>
EOF
start_agent base
SOCK=$(node_sock base)

count_in() { "$TOOL" "$URLS" count FIELD 'ferry.in.>'; }
left() { # messages still in base's reports queues
	"$FERRY" queues --json | tr '{' '\n' | grep '"queue":"reports' |
		sed -n 's/.*"messages":\([0-9]*\).*/\1/p' |
		awk '{s += $1} END {print s + 0}'
}
wait_drained() { # SECS
	wd=0
	while [ "$(left)" != 0 ]; do
		wd=$((wd + 1))
		[ $wd -lt $(($1 * 10)) ] || return 1
		sleep 0.1
	done
}

# --- into JetStream, with a NATS server and ferryd killed meanwhile
"$LOAD" send "$SOCK" base/reports 4 4 $((N / 4)) 200 >/dev/null 2>"$T/load.err" ||
	it_fail "load: $(cat "$T/load.err")"
sleep 0.3
nats_kill 2
kill9_node base
start_agent base
sleep 0.5
nats_start 2
sleep 0.3
kill9_node base
start_agent base
wait_drained 120 || it_fail "$(left) messages still in base's reports queues; log: $(tail -n 5 "$(node_log base)")"
# The last publishes may land a moment after the acks here.
i=0
while :; do
	got=$(count_in) || got="count failed"
	[ "$got" = "messages $N unique $N" ] && break
	i=$((i + 1))
	[ $i -lt 20 ] || it_fail "stream FIELD: $got, wanted $N once each"
	sleep 0.5
done
it_ok "$N messages in the stream exactly once (a NATS server and ferryd killed -9 twice meanwhile)"

# --- out of JetStream
"$TOOL" "$URLS" publish ferry.out.x $M base/fromnats || it_fail "publish"
sleep 0.2
kill9_node base
start_agent base
wait_count base fromnats $M 60 || it_fail "base/fromnats holds $(queue_count fromnats) of $M; log: $(tail -n 5 "$(node_log base)")"
sleep 1
expect_eq "messages from NATS after kill -9" "$(queue_count fromnats)" $M
"$FERRY" recv fromnats --json >"$T/one" || it_fail "recv fromnats"
grep -q '"src":"base"' "$T/one" || it_fail "not a message of base: $(cat "$T/one")"
it_ok "$M messages from ferry.out.> reached base/fromnats exactly once"

# --- the whole cluster down: the bridge waits, nothing is dropped
for i in 1 2 3; do nats_kill $i; done
k=0
while [ $k -lt 10 ]; do
	echo "while down $k" | "$FERRY" send base/reports-late >/dev/null || it_fail "send"
	k=$((k + 1))
done
sleep 2
expect_eq "messages held while NATS is down" "$(queue_count reports-late)" 10
for i in 1 2 3; do nats_start $i; done
wait_drained 90 || it_fail "$(left) still held after NATS came back; log: $(tail -n 5 "$(node_log base)")"
i=0
while :; do
	got=$(count_in) || got="count failed"
	[ "$got" = "messages $((N + 10)) unique $((N + 10))" ] && break
	i=$((i + 1))
	[ $i -lt 40 ] || it_fail "stream FIELD after the outage: $got"
	sleep 0.5
done
it_ok "with the cluster down the 10 messages waited in ferry, then went once"
it_pass
