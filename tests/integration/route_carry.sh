#!/bin/sh
# route_carry.sh - a bundle on a medium for another node is carried by a
# relay (docs/routing.md section 11): a exports for b onto a stick (a and
# b are peers that never meet: no TCP between them); the stick goes to r,
# which is not a's peer but knows b and has a TCP session to it.  r's
# import stores the bundle, still sealed, and sends it on: b imports it
# and has every message once.  The stick keeps its copy; when it reaches b
# as well, b refuses it as already imported (nothing twice).  b's custody
# for a goes back the same way (carried in a bundle on a stick for a), and
# a then holds nothing.  r's store never holds a readable payload.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not

T=$IT_TMP
S=$T/stick
S2=$T/stick2
mkdir -p "$S" "$S2" || it_harness "mkdir"
N=20

make_node r
node_listen r "$(it_free_port)"
make_node a
make_node b
node_peer a b
node_peer b a
node_peer b r
node_peer r b
for n in r a b; do start_agent $n; done

use_node a
k=1
while [ $k -le $N ]; do
	echo "carried-marker-$k" | "$FERRY" send b/in >/dev/null || it_fail "send $k"
	k=$((k + 1))
done
it_gen 7 $((2 << 20)) >"$T/big" || it_harness gen
"$FERRY" send b/big "$T/big" >/dev/null || it_fail "send big"
"$FERRY" export "$S" >"$T/exp" || it_fail "a export: $(cat "$T/exp")"
nb=$(find "$S/ferry" -name '*.bundle' | wc -l)
[ "$nb" -ge 1 ] || it_fail "no bundle on the stick: $(cat "$T/exp")"
it_ok "a put $((N + 1)) messages for b on the stick ($nb bundles)"

# r is not b: it carries the bundle on.
ferry_at r import "$S" >"$T/rimp" || it_fail "r import: $(cat "$T/rimp")"
grep -q "carried $nb bundle" "$T/rimp" || it_fail "r's import: $(cat "$T/rimp")"
wait_count b in $N 30 || it_fail "b/in: $(ferry_at b queues --json); b log: $(tail -n 5 "$(node_log b)")"
wait_count b big 1 30 || it_fail "b/big: $(ferry_at b queues --json)"
wait_outbound r 0 30 || it_fail "r kept $(node_info r outbound_messages)"
expect_eq "bundles left on the stick after r's import" \
	"$(find "$S/ferry" -name '*.bundle' | wc -l)" "$nb"
if grep -rqa 'carried-marker' "$(node_dir r)"; then
	it_fail "a payload is readable in r's state directory"
fi
it_ok "r carried the sealed bundle to b over TCP; b has all; the stick kept its copy"

# The stick reaches b too: already imported, nothing twice.
ferry_at b import "$S" >"$T/bimp" 2>&1
grep -q 'already imported' "$T/bimp" || it_fail "b's import of the stick: $(cat "$T/bimp")"
use_node b
expect_eq "b/in after the stick came too" "$(queue_count in)" $N
expect_eq "b/big after the stick came too" "$(queue_count big)" 1
"$FERRY" recv big >"$T/big.out" || it_fail "recv big"
cmp -s "$T/big" "$T/big.out" || it_fail "the big payload differs"
it_ok "b refused the stick's copy as already imported: each message once"

# Custody back to a: b's receipts for a wait at b (a is reached only by
# stick); b exports, a imports, and a's copies go.
[ "$(node_info a outbound_messages)" = $((N + 1)) ] ||
	it_fail "a holds $(node_info a outbound_messages), wanted $((N + 1)) before custody"
ferry_at b export "$S2" >"$T/bexp" || it_fail "b export: $(cat "$T/bexp")"
ferry_at a import "$S2" >"$T/aimp" || it_fail "a import: $(cat "$T/aimp")"
wait_outbound a 0 30 || it_fail "a kept $(node_info a outbound_messages); a log: $(tail -n 5 "$(node_log a)")"
it_ok "b's custody came back to a (carried in a bundle on the second stick)"
it_pass
