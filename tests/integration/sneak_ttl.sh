#!/bin/sh
# sneak_ttl.sh - a TTL that runs out while the message is on a medium:
# alpha exports a small and a large message with a TTL of 2 s (and one
# without), the TTL runs out, beta imports.  Exactly one dead letter per
# message, at alpha (its own sweep), with the reason expired; beta stores
# nothing of them (neither its queue nor its dead queue), owes no custody
# for them and says "expired on the way"; the custody receipts beta writes
# back (for the one without a TTL) leave alpha's dead letters dead.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
S=$T/stick
mkdir -p "$S" || it_harness "mkdir"
make_node alpha "[limits]" "sweep_interval = 250ms"
make_node beta "[limits]" "sweep_interval = 250ms"
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta

# --- alpha: two messages with a short TTL, one without, onto the medium
use_node alpha
small=$(echo small | "$FERRY" send beta/q --ttl 2s --receipt) || it_fail send
head -c 600000 /dev/urandom >"$T/big" || it_harness urandom
big=$("$FERRY" send beta/q --ttl 2s "$T/big") || it_fail "send big"
keep=$(echo keep | "$FERRY" send beta/q) || it_fail send
"$FERRY" export "$S" >"$T/exp" || it_fail "export: $(cat "$T/exp")"
grep -q 'beta: 3 messages' "$T/exp" || it_fail "export: $(cat "$T/exp")"
it_ok "three messages on the medium"

# --- the TTL runs out while they are on the medium
sleep 3
for id in "$small" "$big"; do
	expect_eq "alpha: $id dead" \
		"$("$FERRY" status "$id" --json | json_get status)" dead
done
expect_eq "alpha: dead letters" "$(queue_count dead)" 2
for id in "$small" "$big"; do
	n=$(grep -c "message $id .*expired" "$(node_log alpha)")
	expect_eq "alpha: 'expired' lines for $id" "$n" 1
done

# --- beta imports: nothing stored for them, no custody owed
use_node beta
"$FERRY" import "$S" >"$T/imp" || it_fail "import: $(cat "$T/imp")"
grep -q '2 expired on the way' "$T/imp" ||
	it_fail "import summary: $(cat "$T/imp")"
it_ok "beta's summary: 2 expired on the way"
for id in "$small" "$big"; do
	grep -q "message $id from alpha expired on the way" "$(node_log beta)" ||
		it_fail "beta's log does not name $id"
	expect_eq "beta: status of $id" \
		"$("$FERRY" status "$id" --json | json_get status)" unknown
done
it_ok "beta's log names both"
expect_eq "beta: q holds only the one without a TTL" "$(queue_count q)" 1
expect_eq "beta: dead is empty" "$(queue_count dead)" 0
expect_eq "beta: recv q" "$("$FERRY" recv q)" keep
# Only the one without a TTL is owed back to alpha.
n=$(grep -c 'custody receipts written for alpha' "$(node_log beta)")
[ "$n" -ge 1 ] || it_fail "no custody receipts written for alpha"
grep -q '1 custody receipts written for alpha' "$(node_log beta)" ||
	it_fail "beta owes custody for more than one: $(grep 'custody receipts written' "$(node_log beta)")"
it_ok "beta owes custody for one message only"

# --- alpha imports beta's custody receipts: its dead letters stay dead
use_node alpha
"$FERRY" import "$S" >"$T/imp2" || it_fail "alpha import: $(cat "$T/imp2")"
expect_eq "alpha: the one without a TTL" \
	"$("$FERRY" status "$keep" --json | json_get status)" handed
for id in "$small" "$big"; do
	"$FERRY" status "$id" >"$T/st"
	grep -q "^$id: dead in dead since .*: expired" "$T/st" ||
		it_fail "alpha: status of $id: $(cat "$T/st")"
done
it_ok "alpha: both still dead (expired) after the custody receipts"
expect_eq "alpha: still two dead letters" "$(queue_count dead)" 2
"$FERRY" status "$small" >"$T/st"
n=$(grep -c "receipt *expired" "$T/st")
expect_eq "alpha: expired receipts for the one with --receipt" "$n" 1
stop_node alpha
stop_node beta
it_pass
