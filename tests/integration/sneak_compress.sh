#!/bin/sh
# sneak_compress.sh - compression in bundles (issue 15 aim 5, docs/hop.md
# 4.8, docs/formats.md 1.1): alpha exports an 8 MiB text log (streamed
# into the store during the import pass, across 1 MiB bundle files) and a
# 100 KiB one (applied from the local copy) to a folder; the bundles carry
# the zstd flag and take at most 0.35 of their size; beta imports both
# byte-identical.  Then
# 1 MiB of random bytes: plain (the bundle is about its size); and with
# compress = no on alpha's peer, a bundle without the flag.  About 5 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
make_node alpha
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
fpr() { ferry_at "$1" info --json | json_get fingerprint; }
FB=$(fpr beta)
[ -n "$FB" ] || it_harness "no fingerprint"

# bundles STICK: the bytes of the bundles for beta on STICK.
bundles() { cat "$1/ferry/$FB"/*.bundle | wc -c | tr -d ' '; }
# flags STICK: the header flags of its bundles for beta (u16be at 10).
flags() {
	for f in "$1/ferry/$FB"/*.bundle; do
		od -An -tx1 -j 10 -N 2 "$f" | tr -d ' \n'
		echo
	done | sort -u | tr '\n' ' '
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# 1. Text: compressed.
it_textlog 3 $((8 * 1024 * 1024)) >"$T/log" || it_harness "text log"
it_textlog 4 $((100 * 1024)) >"$T/small" || it_harness "small log"
size=$(($(wc -c <"$T/log") + $(wc -c <"$T/small")))
use_node alpha
"$FERRY" send beta/q "$T/log" >/dev/null || it_fail "send the log"
"$FERRY" send beta/q "$T/small" >/dev/null || it_fail "send the small log"
mkdir "$T/s1" "$T/s2" "$T/s3" || it_harness mkdir
"$FERRY" export "$T/s1" --peer beta --segment 1M >/dev/null ||
	it_fail "export 1"
n=$(ls "$T/s1/ferry/$FB"/*.bundle | wc -l)
[ "$n" -ge 2 ] || it_fail "the log did not span files ($n)"
b=$(bundles "$T/s1")
r=$(ratio "$b" "$size")
it_note "text: $size bytes in $b bytes of $n bundles (x$r), flags $(flags "$T/s1")"
expect_eq "the bundle's flags" "$(flags "$T/s1")" "0001 "
awk -v r="$r" 'BEGIN { exit !(r <= 0.35) }' ||
	it_fail "the text took x$r of its size in bundles (aim <= 0.35)"
use_node beta
"$FERRY" import "$T/s1" >"$T/imp" || it_fail "import 1: $(cat "$T/imp")"
wait_count beta q 2 20 || it_fail "beta: not stored"
for f in log small; do
	# In the order sent.
	got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
	expect_eq "the $f's sha256" "$got" "$(sha256sum <"$T/$f" | cut -d ' ' -f 1)"
done
it_ok "text logs crossed a folder in x$r of their size, byte-identical"

# 2. Random bytes: plain, in a flagged bundle all the same.
head -c $((1024 * 1024)) /dev/urandom >"$T/rnd" || it_harness random
use_node alpha
"$FERRY" send beta/q "$T/rnd" >/dev/null || it_fail "send random"
"$FERRY" export "$T/s2" --peer beta >/dev/null || it_fail "export 2"
b=$(bundles "$T/s2")
r=$(ratio "$b" $((1024 * 1024)))
it_note "random: 1 MiB in $b bytes of bundles (x$r)"
awk -v r="$r" 'BEGIN { exit !(r >= 1.0 && r <= 1.01) }' ||
	it_fail "random bytes took x$r (plain: 1.00 .. 1.01)"
use_node beta
"$FERRY" import "$T/s2" >/dev/null || it_fail "import 2"
wait_count beta q 1 20 || it_fail "beta: random not stored"
got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
expect_eq "the random message's sha256" "$got" "$(sha256sum <"$T/rnd" | cut -d ' ' -f 1)"

# 3. compress = no: the old format, flags 0, plain.
stop_node alpha
echo "compress = no" >>"$(node_conf alpha)" # its last section: [peer beta]
start_agent alpha
use_node alpha
"$FERRY" send beta/q "$T/small" >/dev/null || it_fail "send, compress = no"
"$FERRY" export "$T/s3" --peer beta >/dev/null || it_fail "export 3"
expect_eq "flags with compress = no" "$(flags "$T/s3")" "0000 "
[ "$(bundles "$T/s3")" -gt $((100 * 1024)) ] || it_fail "compressed anyway"
use_node beta
"$FERRY" import "$T/s3" >/dev/null || it_fail "import 3"
wait_count beta q 1 20 || it_fail "beta: not stored (compress = no)"
stop_node alpha
stop_node beta
it_pass
