#!/bin/sh
# sneak_basic.sh - ferry export / import through a folder (a stick without
# the stick; sneak_fat.sh does it on FUSE FAT and exFAT): a round trip
# alpha -> medium -> beta and custody receipts back; "on medium" status;
# priority and --min-priority; --keep; a second import of the same bundle,
# a damaged one, one from an unknown sender, one addressed to another
# node's key in our folder: all refused, moved to ferry/rejected/ with a
# reason, nothing stored; bundles for other nodes left and listed; stale
# .part files removed; a data-mule loop (one stick, three round trips, new
# messages each way each time: all delivered exactly once, custody
# released on both sides); no agent: a clear error.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
S=$T/stick
mkdir -p "$S" || it_harness "mkdir"
make_node alpha
make_node beta
make_node gamma
node_peer alpha beta
node_peer beta alpha
node_peer gamma beta
node_peer gamma alpha
start_agent alpha
start_agent beta
start_agent gamma
fpr() { use_node "$1"; "$FERRY" info --json | json_get fingerprint; }
FA=$(fpr alpha)
FB=$(fpr beta)
[ -n "$FA" ] && [ -n "$FB" ] || it_harness "no fingerprints"

# --- no agent: a clear error, exit 4
out=$(FERRY_SOCKET=$T/nowhere.sock "$FERRY" export "$S" 2>&1)
rc=$?
expect_eq "export without an agent: exit code" "$rc" 4
echo "$out" | grep -qi 'ferryd' || it_fail "no clear message: $out"
it_ok "export without an agent says so"

# --- alpha -> medium
use_node alpha
id_low=$(echo low | "$FERRY" send beta/in --priority 0) || it_fail send
id_norm=$(echo normal | "$FERRY" send beta/in) || it_fail send
id_urg=$(echo urgent | "$FERRY" send beta/in --urgent) || it_fail send
head -c 3000000 /dev/urandom >"$T/big" || it_harness urandom
id_big=$("$FERRY" send beta/big "$T/big") || it_fail "send big"
"$FERRY" export "$S" --min-priority 1 >"$T/exp1" || it_fail "export: $(cat "$T/exp1")"
grep -q 'beta: 3 messages' "$T/exp1" || it_fail "export summary: $(cat "$T/exp1")"
it_ok "export --min-priority 1 took 3 of 4"
[ -f "$S/ferry/README.txt" ] || it_fail "no README.txt for a finder"
n=$(ls "$S/ferry/$FB/" | grep -c '\.bundle$')
expect_eq "one bundle file for beta" "$n" 1
ls "$S/ferry/$FB/" | grep -q part && it_fail "a .part was left"
"$FERRY" status "$id_norm" | grep -q "on medium $S" ||
	it_fail "status: $("$FERRY" status "$id_norm")"
it_ok "status says on medium DIR since T"
"$FERRY" status "$id_low" | grep -q 'waiting for a hop' ||
	it_fail "the low one: $("$FERRY" status "$id_low")"
# A second export does not write them again.
"$FERRY" export "$S" >"$T/exp2" || it_fail "export 2"
grep -q 'beta: 1 messages.*already on a medium: 3' "$T/exp2" ||
	it_fail "second export: $(cat "$T/exp2")"
it_ok "messages on a medium are not exported twice"
cp "$S/ferry/$FB/"*.bundle "$T/" || it_harness "cp"
first=$(ls "$T/"*.bundle | head -1)

# gamma: a bundle from an unknown sender, and one for alpha.
use_node gamma
echo stranger | "$FERRY" send beta/in >/dev/null || it_fail send
echo foralpha | "$FERRY" send alpha/in >/dev/null || it_fail send
"$FERRY" export "$S" >/dev/null || it_fail "gamma export"

# A stale .part in alpha's folder is a writer's leftover: the next export
# by whoever writes there removes it; the importer ignores it.
echo junk >"$S/ferry/$FB/0000000000000099.part"

# --- beta imports
use_node beta
"$FERRY" import "$S" >"$T/imp1" || it_fail "import: $(cat "$T/imp1")"
grep -q 'imported 4 messages' "$T/imp1" || it_fail "import summary: $(cat "$T/imp1")"
grep -q 'unknown sender' "$T/imp1" || it_fail "gamma's bundle not refused: $(cat "$T/imp1")"
# gamma's bundle for alpha: beta knows alpha (a peer) and carries it
# (docs/routing.md 11); its own receipts for alpha stay on the medium.
grep -q "carried 1 bundle for alpha" "$T/imp1" ||
	it_fail "gamma's bundle for alpha not carried: $(cat "$T/imp1")"
grep -q "left on the medium: 1 bundles for $FA = alpha" "$T/imp1" ||
	it_fail "bundles for alpha not listed: $(cat "$T/imp1")"
it_ok "import: alpha's stored, gamma's refused, gamma's for alpha carried, beta's own left and listed"
expect_eq "first out (urgent)" "$("$FERRY" recv in)" urgent
expect_eq "then normal" "$("$FERRY" recv in)" normal
expect_eq "then low" "$("$FERRY" recv in)" low
"$FERRY" recv in >/dev/null 2>&1 && it_fail "a 4th message in beta/in"
"$FERRY" recv big >"$T/big2" || it_fail "recv big"
cmp -s "$T/big" "$T/big2" || it_fail "the 3 MB payload differs"
it_ok "payloads intact, in priority order, nothing from the stranger"
ls "$S/ferry/rejected/" | grep -q '\.bundle\.txt$' || it_fail "no reason file"
grep -q 'unknown sender' "$S/ferry/rejected/"*.txt || it_fail "reason: $(cat "$S/ferry/rejected/"*.txt)"
it_ok "the refused bundle is in ferry/rejected/ with its reason"
ls "$S/ferry/$FB/" | grep -q '\.bundle$' && it_fail "imported bundles left on the medium"
it_ok "imported bundles removed from the medium"
n=$(ls "$S/ferry/$FA/" | grep -c '\.bundle$')
[ "$n" -ge 2 ] || it_fail "receipts for alpha not written ($n files)"
it_ok "custody receipts written back for alpha"

# --- replay of the first bundle: refused, nothing stored twice
cp "$first" "$S/ferry/$FB/" || it_harness cp
"$FERRY" import "$S" >"$T/imp2" || it_fail "import 2"
grep -q 'already imported' "$T/imp2" || it_fail "replay not refused: $(cat "$T/imp2")"
"$FERRY" recv in >/dev/null 2>&1 && it_fail "the replay delivered again"
it_ok "a second import of the same bundle is refused and stores nothing"

# --- a damaged bundle: refused, nothing stored
use_node alpha
echo damaged | "$FERRY" send beta/in >/dev/null || it_fail send
"$FERRY" export "$S" --peer beta >/dev/null || it_fail "export 3"
f=$(ls "$S/ferry/$FB/"*.bundle | head -1)
sz=$(stat -c %s "$f")
# Invert the byte in the middle (writing a fixed byte would leave it as
# it was once in 256 runs).
off=$((sz / 2))
b=$(od -An -tu1 -j $off -N1 "$f" | tr -d ' ')
[ -n "$b" ] || it_harness "od $f"
printf "\\$(printf '%03o' $((b ^ 255)))" |
	dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null || it_harness dd
[ "$(od -An -tu1 -j $off -N1 "$f" | tr -d ' ')" = $((b ^ 255)) ] ||
	it_harness "the byte at $off was not inverted"
use_node beta
"$FERRY" import "$S" >"$T/imp3" || it_fail "import 3"
grep -q 'refused' "$T/imp3" || it_fail "damage not refused: $(cat "$T/imp3")"
"$FERRY" recv in >/dev/null 2>&1 && it_fail "a damaged bundle delivered"
it_ok "a damaged bundle is refused with nothing stored"

# --- back at alpha: receipts release custody
use_node alpha
"$FERRY" import "$S" >"$T/imp4" || it_fail "alpha import"
grep -q 'custody receipts' "$T/imp4" || it_fail "alpha: $(cat "$T/imp4")"
for id in "$id_urg" "$id_norm" "$id_low" "$id_big"; do
	st=$("$FERRY" status "$id" --json | json_get status)
	[ "$st" = handed ] || it_fail "$id at alpha: $st"
done
it_ok "alpha: custody released for all four ('handed to beta')"
# The damaged one is still here, on a medium; --again puts it out again.
"$FERRY" export "$S" --again >"$T/exp4" || it_fail "export --again"
grep -q 'beta: 1 messages' "$T/exp4" || it_fail "--again: $(cat "$T/exp4")"
use_node beta
"$FERRY" import "$S" >/dev/null || it_fail "import 4"
expect_eq "the damaged one arrives with --again" "$("$FERRY" recv in)" damaged

# --- a data-mule loop: one stick, alpha <-> beta, three trips
sent_a=0
sent_b=0
for trip in 1 2 3; do
	use_node alpha
	for k in 1 2 3; do
		echo "a$trip.$k" | "$FERRY" send beta/mule >/dev/null || it_fail send
		sent_a=$((sent_a + 1))
	done
	"$FERRY" import "$S" >/dev/null || it_fail "alpha import trip $trip"
	"$FERRY" export "$S" >/dev/null || it_fail "alpha export trip $trip"
	use_node beta
	for k in 1 2; do
		echo "b$trip.$k" | "$FERRY" send alpha/mule >/dev/null || it_fail send
		sent_b=$((sent_b + 1))
	done
	"$FERRY" import "$S" >/dev/null || it_fail "beta import trip $trip"
	"$FERRY" export "$S" >/dev/null || it_fail "beta export trip $trip"
done
use_node alpha
"$FERRY" import "$S" >/dev/null || it_fail "alpha last import"
use_node beta
"$FERRY" import "$S" >/dev/null || it_fail "beta last import"
got=$(while "$FERRY" recv mule 2>/dev/null; do :; done | sort)
expect_eq "beta got every alpha message once" "$(echo "$got" | wc -l)" $sent_a
expect_eq "no duplicates at beta" "$(echo "$got" | sort -u | wc -l)" $sent_a
use_node alpha
got=$(while "$FERRY" recv mule 2>/dev/null; do :; done | sort)
expect_eq "alpha got every beta message once" "$(echo "$got" | wc -l)" $sent_b
expect_eq "no duplicates at alpha" "$(echo "$got" | sort -u | wc -l)" $sent_b
j=$("$FERRY" peers --json)
expect_eq "alpha: nothing left in custody for beta" \
	"$(echo "$j" | json_get queued_messages)" 0
use_node beta
j=$("$FERRY" peers --json)
expect_eq "beta: nothing left in custody for alpha" \
	"$(echo "$j" | json_get queued_messages)" 0
# --- a hostile medium: symbolic links are refused, never followed
S2=$T/stick2
mkdir -p "$S2/ferry" "$T/elsewhere" || it_harness mkdir
echo keep >"$T/elsewhere/0000000000000001.part"
echo secret >"$T/elsewhere/secret"
ln -s "$T/elsewhere" "$S2/ferry/$FB"
use_node alpha
echo hostile | "$FERRY" send beta/in >/dev/null || it_fail send
"$FERRY" export "$S2" >"$T/exp5" 2>&1
[ -f "$T/elsewhere/0000000000000001.part" ] || it_fail "export followed a planted symbolic link"
ls "$T/elsewhere" | grep -q bundle && it_fail "export wrote through a symbolic link"
it_ok "export refuses a peer folder that is a symbolic link"
rm "$S2/ferry/$FB"
mkdir -p "$S2/ferry/$FB"
use_node beta
FA2=$("$FERRY" info --json | json_get fingerprint)
mkdir -p "$S2/ferry/$FA2"
ln -s "$T/elsewhere/secret" "$S2/ferry/$FA2/0123456789abcdef0123456789abcdef.bundle"
"$FERRY" import "$S2" >"$T/imp5" 2>&1 || it_fail "import of a hostile medium: $(cat "$T/imp5")"
grep -q 'symbolic link' "$T/imp5" || it_fail "link not refused: $(cat "$T/imp5")"
expect_eq "the link's target untouched" "$(cat "$T/elsewhere/secret")" secret
it_ok "import refuses a bundle that is a symbolic link"
it_pass
