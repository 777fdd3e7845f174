#!/bin/sh
# agent_quota.sh - a send refused by a quota says which limit and its
# value (issue 12, item 13): a queue at queue_max_messages, a queue at its
# own [queue] max_bytes, the store at store_quota; what was accepted
# before stays.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node alpha "[limits]" "queue_max_messages = 2" "store_quota = 1M" \
	"[queue small]" "max_bytes = 64K"
start_agent alpha

echo 1 | "$FERRY" send alpha/q >/dev/null || it_fail "send 1"
echo 2 | "$FERRY" send alpha/q >/dev/null || it_fail "send 2"
rc=0
echo 3 | "$FERRY" send alpha/q >/dev/null 2>"$T/e1" || rc=$?
[ "$rc" -ne 0 ] || it_fail "a third message went into a queue of 2"
grep -q "queue q is at its limit: .* 2 messages" "$T/e1" ||
	it_fail "the queue's limit is not named: $(cat "$T/e1")"
grep -q "queue_max_messages" "$T/e1" ||
	it_fail "the setting is not named: $(cat "$T/e1")"
it_ok "queue_max_messages: $(cat "$T/e1")"

head -c 70000 /dev/zero >"$T/70k" || it_harness "70k"
rc=0
"$FERRY" send alpha/small "$T/70k" >/dev/null 2>"$T/e2" || rc=$?
[ "$rc" -ne 0 ] || it_fail "70 KB went into a queue of 64 KiB"
grep -q "queue small is at its limit: 0.1 MiB" "$T/e2" ||
	it_fail "the queue's max_bytes is not named: $(cat "$T/e2")"
it_ok "[queue] max_bytes: $(cat "$T/e2")"

head -c 1200000 /dev/zero >"$T/big" || it_harness "big"
rc=0
"$FERRY" send alpha/other "$T/big" >/dev/null 2>"$T/e3" || rc=$?
[ "$rc" -ne 0 ] || it_fail "1.2 MB went into a store of 1 MiB"
grep -q "store_quota = 1.0 MiB" "$T/e3" ||
	it_fail "store_quota is not named: $(cat "$T/e3")"
it_ok "store_quota: $(cat "$T/e3")"

expect_eq "what was accepted stays" "$(queue_count q)" 2
it_pass
