#!/bin/sh
# agent_noroute.sh - `ferry send` to a node that is neither this node nor
# a configured peer is refused at once, with its own exit status (8) and a
# message naming the node, small or streamed, and nothing is stored; with
# --hold it is kept (queued for that node) as before; sends to this node
# and to a peer go as usual.  Any other early refusal of a streamed SEND
# (--seal to this node) is answered too, not cut off mid-write.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
make_node alpha
make_node beta
node_peer alpha beta
start_agent alpha

rc=0
echo hi | "$FERRY" send betta/q >/dev/null 2>"$T/e1" || rc=$?
expect_eq "typo: exit status" "$rc" 8
grep -q "betta is neither this node (alpha) nor a \[peer\]" "$T/e1" ||
	it_fail "typo: the node is not named: $(cat "$T/e1")"
head -c 3000000 /dev/urandom >"$T/big" || it_harness "big"
rc=0
"$FERRY" send betta/q "$T/big" >/dev/null 2>"$T/e2" || rc=$?
expect_eq "typo, streamed: exit status" "$rc" 8
expect_eq "nothing stored" "$("$FERRY" status --json | json_get messages)" 0
it_ok "a send to an unknown node is refused: $(tail -n 1 "$T/e1")"

# Any refusal of a streamed SEND before its stream began is answered, and
# its DATA dropped, not taken for a protocol violation that cuts the CLI
# off mid-write (EPIPE, exit 4) before it reads why: --seal to this node.
for i in 1 2 3; do
	rc=0
	"$FERRY" send --seal alpha/q "$T/big" >/dev/null 2>"$T/e3" || rc=$?
	expect_eq "--seal to this node, streamed ($i): exit status" "$rc" 1
	grep -q -- "--seal: the message is for this node" "$T/e3" ||
		it_fail "--seal to this node: not told why: $(cat "$T/e3")"
done
expect_eq "nothing stored" "$("$FERRY" status --json | json_get messages)" 0
it_ok "a streamed SEND refused after its checks: $(tail -n 1 "$T/e3")"

id=$(echo kept | "$FERRY" send --hold betta/q) || it_fail "send --hold"
expect_eq "--hold: kept" "$("$FERRY" status "$id" --json | json_get status)" \
	outbound
echo local | "$FERRY" send alpha/q >/dev/null || it_fail "send to alpha"
echo peer | "$FERRY" send beta/q >/dev/null || it_fail "send to the peer"
expect_eq "stored: held, local, for the peer" \
	"$("$FERRY" status --json | json_get messages)" 3
it_ok "--hold keeps it; this node and a peer as before"
it_pass
