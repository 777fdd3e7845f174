#!/bin/sh
# bridge_two.sh - two bases for one fleet (docs/bridge.md, "Two bases"):
# base-1 and base-2 share the site name `base` ([node] site) and each
# bridges its reports* queues into the same JetStream stream FIELD (R3 on
# a 3-node nats-server cluster on loopback, 2 min duplicate window).  The
# field node sends to base/reports and routes `base = base-1, base-2`;
# its link to base-1 goes through fault_proxy.
#
# Failover, made deterministic: the proxy is muted (what base-1 sends is
# dropped), so K messages reach base-1 and are stored there, and their
# custody never reaches the field node; base-1's bridge has no NATS yet,
# so it holds them.  base-1 is killed -9; NATS comes up; the field node
# hands the K to base-2, which bridges them; base-1 comes back and
# bridges its copies too: each of the K is in the stream once, and
# base-1's log says each of its K publishes was a duplicate.
#
# Then M more messages flow in six bursts, the first two to base-1 alone
# (base-2 stopped), and base-1 is killed -9 for good right after them
# while it takes and bridges them: the field node loses nothing (what
# base-1 had not acknowledged goes to base-2, started again) and the
# stream holds no duplicate.  What
# base-1 had taken custody of but not yet bridged waits on its disk: it
# is started once more at the end ("its disk comes back") and the stream
# then holds every one of the K + M messages exactly once.
# K = 20, M = 180 (six bursts of 30; about 30 s on 2 busy cores); K = 100, M = 1,902 with FERRY_TEST_LONG=1.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not
. "$(dirname "$0")/lib_nats.sh"

T=$IT_TMP
nats_setup
PROXY=$(it_helper fault_proxy) || exit 99
LOAD=$(it_helper load_clients) || exit 99
if [ $IT_LONG -eq 1 ]; then K=100 M=1902; else K=20 M=180; fi
N=$((K + M))

# --- the nodes (NATS is not up yet)
bridge_conf() { # NODE
	cat >>"$(node_conf "$1")" <<EOF
[bridge field]
nats = $URLS
stream = FIELD
queues = reports*
subject = ferry.in.{node}.{queue}
EOF
}
make_node base-1 "[node]" "site = base" "log_level = debug"
make_node base-2 "[node]" "site = base"
node_listen base-1 "$(it_free_port)"
node_listen base-2 "$(it_free_port)"
bridge_conf base-1
bridge_conf base-2
make_node field
"$PROXY" --target "$(node_port base-1)" --port-file "$T/proxy.port" \
	--stats "$T/proxy.stats" >/dev/null 2>"$T/proxy.log" &
proxy=$!
it_at_exit "kill $proxy 2>/dev/null"
it_wait_proxy $proxy "$T/proxy.port" "$T/proxy.log"
node_peer field base-2
{
	printf '[peer base-1]\nkey = %s\ntcp = 127.0.0.1:%s\n' \
		"$(node_card base-1)" "$(cat "$T/proxy.port")"
	printf 'retry_min = 200ms\nretry_max = 1s\ncall_every = 1s\n'
	printf '[route]\nbase = base-1, base-2\n'
} >>"$(node_conf field)"
node_peer base-1 field
node_peer base-2 field

connected() { # NODE PEER
	ferry_at "$1" peers --json | tr '{' '\n' | grep "\"peer\":\"$2\"" |
		grep -q '"connected":true'
}
proxy_stat() { sed -n "s/^$1 //p" "$T/proxy.stats"; }
reports() { # NODE: messages in its reports* queues
	ferry_at "$1" queues --json | tr '{' '\n' | grep '"queue":"reports' |
		sed -n 's/.*"messages":\([0-9]*\).*/\1/p' |
		awk '{s += $1} END {print s + 0}'
}
wait_reports() { # NODE N SECS
	wr=0
	while [ "$(reports "$1")" != "$2" ]; do
		wr=$((wr + 1))
		[ $wr -lt $(($3 * 5)) ] || return 1
		sleep 0.2
	done
}
stream_is() { # WANT SECS: until the stream holds "messages W unique W"
	si=0
	while :; do
		got=$("$TOOL" "$URLS" count FIELD 'ferry.in.>') || got="count failed"
		[ "$got" = "messages $1 unique $1" ] && return 0
		si=$((si + 1))
		[ $si -lt $(($2 * 2)) ] || return 1
		sleep 0.5
	done
}
send_some() { # COUNT: field sends COUNT messages to base/reports/00
	"$LOAD" send "$(node_sock field)" base/reports 1 1 "$1" 200 \
		>/dev/null 2>"$T/load.err" || it_fail "load: $(cat "$T/load.err")"
}

start_agent base-1
start_agent field
i=0
until connected field base-1; do
	i=$((i + 1))
	[ $i -lt 100 ] || it_fail "field did not reach base-1: $(tail -n 3 "$(node_log field)")"
	sleep 0.1
done

# --- failover: base-1 stores K, its custody never reaches the field
kill -USR1 $proxy
i=0
until [ "$(proxy_stat muted)" = 1 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || it_harness "the proxy did not mute"
	sleep 0.05
done
send_some $K
wait_reports base-1 $K 20 ||
	it_fail "base-1 holds $(reports base-1) of $K; $(tail -n 3 "$(node_log base-1)")"
expect_eq "field's outbound (no custody came back)" \
	"$(node_info field outbound_messages)" $K
kill9_node base-1
it_ok "base-1 stored $K messages and was killed -9 before its custody reached the field node or its bridge had NATS"

for i in 1 2 3; do nats_start $i; done
"$TOOL" "$URLS" create FIELD 'ferry.>' 3 120 ||
	it_fail "cannot create the stream: $(tail -n 5 "$T/nats1.log")"
start_agent base-2
wait_outbound field 0 30 ||
	it_fail "field still holds $(node_info field outbound_messages); $(tail -n 3 "$(node_log field)")"
msgs=$(ferry_at base-2 peers --json | tr '{' '\n' | grep '"peer":"field"' |
	json_get messages_in)
expect_eq "messages base-2 received from field" "$msgs" $K
stream_is $K 30 || it_fail "stream FIELD: $got, wanted $K once each"
it_ok "the field node resent the $K to base-2, which bridged them"

kill -USR2 $proxy
start_agent base-1
wait_reports base-1 0 30 ||
	it_fail "base-1 still holds $(reports base-1); $(tail -n 3 "$(node_log base-1)")"
dups=$(grep -c 'was in stream FIELD already' "$(node_log base-1)")
expect_eq "base-1's publishes JetStream found duplicates" "$dups" $K
stream_is $K 10 || it_fail "stream FIELD after base-1 came back: $got"
it_ok "base-1 came back and bridged its $K copies: each is in the stream once"

# --- base-1 killed -9 for good while messages flow
i=0
until connected field base-1; do
	i=$((i + 1))
	[ $i -lt 100 ] || it_fail "field did not reach base-1 again"
	sleep 0.1
done
# In six bursts: base-2 is stopped for the first two, so base-1 takes
# them; base-1 is killed -9 right after the second, while it takes and
# bridges them, and base-2 is started again.
stop_node base-2
b=1
while [ $b -le 6 ]; do
	send_some $((M / 6))
	if [ $b = 2 ]; then
		kill9_node base-1
		start_agent base-2
	fi
	b=$((b + 1))
done
wait_outbound field 0 60 ||
	it_fail "field still holds $(node_info field outbound_messages); $(tail -n 3 "$(node_log field)")"
via2=$(ferry_at base-2 peers --json | tr '{' '\n' | grep '"peer":"field"' |
	json_get messages_in)
it_note "of the $M: $via2 handed to base-2 since it came back ($((via2 - M * 2 / 3)) of the bursts base-1 had)"
wait_reports base-2 0 60 || it_fail "base-2 still holds $(reports base-2)"
sleep 1
got=$("$TOOL" "$URLS" count FIELD 'ferry.in.>') || it_fail "count"
n=${got#messages }
n=${n%% *}
expect_eq "stream FIELD with base-1 gone: no duplicate" "$got" "messages $n unique $n"
[ "$n" -le $N ] && [ "$n" -ge $((N - M)) ] || it_fail "stream FIELD: $got of $N"
it_note "with base-1 gone: $n of $N in the stream; $((N - n)) wait in base-1's store (it had taken their custody)"
start_agent base-1
wait_reports base-1 0 30 || it_fail "base-1 still holds $(reports base-1)"
stream_is $N 20 || it_fail "stream FIELD at the end: $got, wanted $N once each"
it_ok "all $N messages in the stream exactly once; base-1 killed -9 mid-flow lost and duplicated nothing"
it_pass
