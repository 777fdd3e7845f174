#!/bin/sh
# agent_metrics.sh - /metrics on [node] metrics_listen and `ferry metrics`
# (issue 16), two agents over TCP on loopback: alpha sends three messages
# to beta, keeps two in a local queue and lets one expire into dead; then
#  - `curl /metrics` at alpha passes `promtool check metrics`, and shows
#    the queue's depth and bytes, dead 1 with the reason expired, beta up
#    with bytes sent and 3 messages handed over (by peer and for tcp), a
#    commit histogram whose +Inf bucket is its count (> 0), two reply
#    queues summed as queue="reply.*";
#  - `ferry metrics` prints the same families (at alpha, and at beta,
#    which has no metrics_listen: 3 received over tcp);
#  - HEAD answers, POST is 405, another path 404, and the agent is fine.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null 2>&1 || it_skip "needs curl"
command -v promtool >/dev/null 2>&1 ||
	it_skip "needs promtool (Debian package prometheus)"
T=$IT_TMP

mport=$(it_free_port)
make_node alpha "[node]" "metrics_listen = 127.0.0.1:$mport" \
	"[limits]" "sweep_interval = 250ms"
make_node beta "[limits]" "sweep_interval = 250ms"
node_listen alpha "$(it_free_port)"
node_listen beta "$(it_free_port)"
node_peer alpha beta
node_peer beta alpha
start_agent beta
start_agent alpha
grep -q "metrics: serving http://127.0.0.1:$mport/metrics" "$(node_log alpha)" ||
	it_fail "alpha does not say where it serves the metrics"
it_ok "alpha serves /metrics on 127.0.0.1:$mport"

# --- traffic: 3 to beta, 2 kept here (11 bytes), 1 expired into dead
for i in 1 2 3; do
	echo "to beta $i" | "$FERRY" send beta/in >/dev/null || it_fail "send $i"
done
printf hello | "$FERRY" send alpha/local >/dev/null || it_fail "send local"
printf world! | "$FERRY" send alpha/local >/dev/null || it_fail "send local"
echo brief | "$FERRY" send alpha/brief --ttl 300ms >/dev/null ||
	it_fail "send with a ttl"
"$FERRY" queues create reply.0123456789abcdef0123456789abcdef >/dev/null ||
	it_fail "create a reply queue"
"$FERRY" queues create reply.fedcba9876543210fedcba9876543210 >/dev/null ||
	it_fail "create a reply queue"
printf 12345678 | "$FERRY" send alpha/reply.0123456789abcdef0123456789abcdef \
	>/dev/null || it_fail "send to the reply queue"
wait_count beta in 3 10 || it_fail "beta did not get the 3 messages"
wait_count alpha dead 1 10 || it_fail "the message with a ttl is not in dead"
# The custody receipts are in alpha's counters once the peer's line shows.
i=0
until "$FERRY" peers --json | grep -q '"messages_out":3'; do
	i=$((i + 1))
	[ $i -lt 50 ] || it_fail "alpha never counted 3 handed to beta"
	sleep 0.1
done

# --- the scrape
url=http://127.0.0.1:$mport/metrics
curl -sf "$url" >"$T/scrape" || it_fail "curl $url failed"
promtool check metrics <"$T/scrape" >"$T/promtool" 2>&1 ||
	it_fail "promtool check metrics: $(cat "$T/promtool")"
it_ok "promtool check metrics accepts the scrape"

# value LINE-START: the value of the sample whose line starts so.
value() {
	awk -v k="$1" 'substr($0, 1, length(k) + 1) == k " " { print $2 }' \
		"${2:-$T/scrape}"
}
expect_eq "ferry_queue_messages{queue=\"local\"}" \
	"$(value 'ferry_queue_messages{queue="local"}')" 2
expect_eq "ferry_queue_bytes{queue=\"local\"}" \
	"$(value 'ferry_queue_bytes{queue="local"}')" 11
expect_eq "ferry_queue_messages{queue=\"dead\"}" \
	"$(value 'ferry_queue_messages{queue="dead"}')" 1
expect_eq "ferry_dead_letters_total{reason=\"expired\"}" \
	"$(value 'ferry_dead_letters_total{reason="expired"}')" 1
expect_eq "ferry_dead_letters_total{reason=\"no_route\"}" \
	"$(value 'ferry_dead_letters_total{reason="no_route"}')" 0
expect_eq "reply queues summed: messages" \
	"$(value 'ferry_queue_messages{queue="reply.*"}')" 1
expect_eq "reply queues summed: bytes" \
	"$(value 'ferry_queue_bytes{queue="reply.*"}')" 8
grep -q 'queue="reply\.[0-9a-f]' "$T/scrape" &&
	it_fail "a reply queue has a series of its own"
it_ok "no series per reply queue"
expect_eq "ferry_queues (the reply queues counted)" \
	"$(value ferry_queues)" 5
expect_eq "ferry_peer_up{peer=\"beta\"}" \
	"$(value 'ferry_peer_up{peer="beta"}')" 1
sent=$(value 'ferry_peer_sent_bytes_total{peer="beta"}')
[ -n "$sent" ] && [ "$sent" -gt 0 ] || it_fail "bytes sent to beta: '$sent'"
it_ok "ferry_peer_sent_bytes_total{peer=\"beta\"} $sent > 0"
expect_eq "ferry_peer_handed_over_messages_total{peer=\"beta\"}" \
	"$(value 'ferry_peer_handed_over_messages_total{peer="beta"}')" 3
expect_eq "ferry_messages_handed_over_total{transport=\"tcp\"}" \
	"$(value 'ferry_messages_handed_over_total{transport="tcp"}')" 3
count=$(value ferry_store_commit_seconds_count)
[ -n "$count" ] && [ "$count" -gt 0 ] || it_fail "commit count: '$count'"
expect_eq "the +Inf bucket is the count" \
	"$(value 'ferry_store_commit_seconds_bucket{le="+Inf"}')" "$count"
free=$(value ferry_disk_free_bytes)
[ -n "$free" ] && [ "$free" -gt 0 ] || it_fail "disk free: '$free'"
[ -n "$(value ferry_disk_reserve_bytes)" ] || it_fail "no disk reserve"
it_ok "disk free and reserve shown"
grep -q '^ferry_build_info{version="[^"]*",node="alpha"} 1$' "$T/scrape" ||
	it_fail "no ferry_build_info for alpha"
it_ok "ferry_build_info names alpha"

# --- ferry metrics: the same families, by the socket
"$FERRY" metrics >"$T/cli" || it_fail "ferry metrics failed"
promtool check metrics <"$T/cli" >"$T/promtool" 2>&1 ||
	it_fail "promtool on ferry metrics: $(cat "$T/promtool")"
grep '^# TYPE' "$T/scrape" >"$T/fam.http"
grep '^# TYPE' "$T/cli" >"$T/fam.cli"
cmp -s "$T/fam.http" "$T/fam.cli" ||
	it_fail "the families differ: $(diff "$T/fam.http" "$T/fam.cli")"
it_ok "ferry metrics prints the same $(wc -l <"$T/fam.cli") families"
expect_eq "ferry metrics: the local queue" \
	"$(value 'ferry_queue_messages{queue="local"}' "$T/cli")" 2
ferry_at beta metrics >"$T/beta.txt" || it_fail "ferry metrics at beta failed"
promtool check metrics <"$T/beta.txt" >"$T/promtool" 2>&1 ||
	it_fail "promtool on beta's metrics: $(cat "$T/promtool")"
expect_eq "beta (no metrics_listen): received over tcp" \
	"$(value 'ferry_messages_received_total{transport="tcp"}' "$T/beta.txt")" 3
expect_eq "beta: received from alpha" \
	"$(value 'ferry_peer_received_messages_total{peer="alpha"}' "$T/beta.txt")" 3

# --- what is refused
code() {
	curl -s -o "$T/body" -w '%{http_code}' "$@"
}
expect_eq "HEAD /metrics" "$(code -I "$url")" 200
expect_eq "POST /metrics" "$(code -X POST "$url")" 405
expect_eq "POST /metrics with a body" "$(code -d 'a=1' "$url")" 405
expect_eq "GET /other" "$(code "http://127.0.0.1:$mport/other")" 404
expect_eq "GET /metrics/x" "$(code "$url/x")" 404
expect_eq "GET /" "$(code "http://127.0.0.1:$mport/")" 404
curl -sf "$url" | grep -q '^ferry_store_messages ' ||
	it_fail "a scrape after the refusals failed"
it_ok "still serving after the refusals"
it_check_alive "after the scrapes" alpha beta
stop_node alpha
stop_node beta
it_pass
