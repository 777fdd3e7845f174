#!/bin/sh
# agent_partials.sh - a `ferry send` cut half-way can be seen and resumed
# (issue 12, item 11):
#  (a) `ferry send` of a large payload says, on standard error and before
#      the payload goes, the --id that resumes it;
#  (b) killed half-way, its partial payload is listed by `ferry status
#      --partials` (id, bytes so far, age; --json too), not as being
#      received, and nothing is in the queue;
#  (c) the same command with that --id completes it: the stored part is
#      compared, not written again (the log says so), the partial is gone
#      and exactly one message is there, whole, under the listed id;
#  (d) the same again is a duplicate (the same id, nothing new);
#  (e) another payload under a cut send's --id is refused once (the two
#      are never mixed) and its partial dropped; the next try stores it.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
start_node alpha
log=$(node_log alpha)
size=50331648 # 48 MiB
it_gen 12 $size >"$T/big" || it_harness "it_gen"
[ "$(wc -c <"$T/big")" -eq $size ] || it_harness "the test payload is short"

expect_eq "no partials at first" "$("$FERRY" status --partials)" \
	"no partial payloads"

# --- (a) and (b): 20 MiB into a send that then waits for more; kill it
mkfifo "$T/fifo" || it_harness "mkfifo"
"$FERRY" send alpha/big - <"$T/fifo" >"$T/send.out" 2>"$T/send.err" &
spid=$!
exec 3>"$T/fifo"
head -c 20971520 "$T/big" >&3 || it_harness "cannot feed ferry send"
t0=$(it_now_ms)
while :; do
	j=$("$FERRY" status --partials --json) || it_fail "status --partials: $j"
	b=$(echo "$j" | json_get bytes)
	[ -n "$b" ] && [ "$b" -ge 16777216 ] && break
	[ $(($(it_now_ms) - t0)) -lt 15000 ] ||
		it_fail "no partial of 16 MiB listed after 15 s: $j"
	sleep 0.1
done
it_ok "while it streams: $j"
expect_eq "listed as being received" "$(echo "$j" | json_get receiving)" true
key=$(sed -n 's/.* under --id \([0-9a-f]\{32\}\) .*/\1/p' "$T/send.err")
[ -n "$key" ] || it_fail "ferry send did not say its --id: '$(cat "$T/send.err")'"
it_ok "ferry send said: $(head -n 1 "$T/send.err")"
kill -9 $spid
exec 3>&-
wait $spid 2>/dev/null
t0=$(it_now_ms)
while :; do
	j=$("$FERRY" status --partials --json) || it_fail "status --partials: $j"
	[ "$(echo "$j" | json_get receiving)" = false ] && break
	[ $(($(it_now_ms) - t0)) -lt 10000 ] ||
		it_fail "the cut partial is still being received 10 s on: $j"
	sleep 0.1
done
pid=$(echo "$j" | json_get id)
b=$(echo "$j" | json_get bytes)
[ "$b" -ge 16777216 ] && [ "$b" -le 20971520 ] ||
	it_fail "the cut partial holds $b bytes, not 16 to 20 MiB: $j"
[ -n "$(echo "$j" | json_get age_ms)" ] || it_fail "no age: $j"
expect_eq "its address" "$(echo "$j" | json_get dst_queue)" big
it_ok "after the kill: $j"
line=$("$FERRY" status --partials | grep "^$pid ") ||
	it_fail "not in the text listing: $("$FERRY" status --partials)"
case $line in *alpha/big*) ;; *) it_fail "text line: $line" ;; esac
it_ok "text: $line"
expect_eq "nothing in big" "$(queue_count big)" 0

# --- (c) the same send with the printed --id completes it
t0=$(it_now_ms)
id=$("$FERRY" send --id "$key" alpha/big "$T/big" 2>"$T/resume.err") ||
	it_fail "the resumed send failed: $(cat "$T/resume.err")"
it_ok "resumed in $(($(it_now_ms) - t0)) ms"
expect_eq "the message has the partial's id" "$id" "$pid"
grep -q "message $pid: the client resends a cut stream; $b bytes stored" \
	"$log" || it_fail "the log does not say the stored part was kept: $(tail -n 3 "$log")"
it_ok "the $b bytes stored before were compared, not written again"
expect_eq "no partials left" "$("$FERRY" status --partials)" \
	"no partial payloads"
expect_eq "exactly one message in big" "$(queue_count big)" 1

# --- (d) once more: a duplicate
again=$("$FERRY" send --id "$key" alpha/big "$T/big" 2>"$T/dup.err") ||
	it_fail "the repeated send failed: $(cat "$T/dup.err")"
grep -q "accepted before" "$T/dup.err" ||
	it_fail "the repeated send was not a duplicate: $(cat "$T/dup.err")"
expect_eq "the duplicate names the same id" "$again" "$id"
expect_eq "still exactly one message in big" "$(queue_count big)" 1
"$FERRY" recv big >"$T/got" || it_fail "recv big"
cmp -s "$T/big" "$T/got" || it_fail "the received payload differs from the file"
it_ok "the 48 MiB payload arrived whole"

# --- (e) resent with another payload under the same --id: refused once
# (never a mix of the two), the partial dropped; the next try stores it
"$FERRY" send alpha/big - <"$T/fifo" >"$T/send.out" 2>"$T/send.err" &
spid=$!
exec 3>"$T/fifo"
head -c 10485760 "$T/big" >&3 || it_harness "cannot feed ferry send"
t0=$(it_now_ms)
until [ -n "$("$FERRY" status --partials --json | json_get bytes)" ] &&
	[ "$("$FERRY" status --partials --json | json_get bytes)" -gt 0 ]; do
	[ $(($(it_now_ms) - t0)) -lt 15000 ] || it_fail "no partial after 15 s"
	sleep 0.1
done
key=$(sed -n 's/.* under --id \([0-9a-f]\{32\}\) .*/\1/p' "$T/send.err")
kill -9 $spid
exec 3>&-
wait $spid 2>/dev/null
it_gen 13 12582912 >"$T/other"
"$FERRY" send --id "$key" alpha/big "$T/other" >/dev/null 2>"$T/other.err" &&
	it_fail "another payload under the cut send's --id was accepted"
grep -q "differs from what the interrupted send" "$T/other.err" ||
	it_fail "the refusal does not say why: $(cat "$T/other.err")"
it_ok "another payload is refused once: $(cat "$T/other.err")"
expect_eq "its partial is dropped" "$("$FERRY" status --partials)" \
	"no partial payloads"
"$FERRY" send --id "$key" alpha/big "$T/other" >/dev/null 2>"$T/other.err" ||
	it_fail "the next try failed: $(cat "$T/other.err")"
"$FERRY" recv big >"$T/got" || it_fail "recv big"
cmp -s "$T/other" "$T/got" || it_fail "the other payload arrived damaged"
it_ok "the next try stored it whole"
stop_node alpha
it_pass
