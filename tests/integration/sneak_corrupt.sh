#!/bin/sh
# sneak_corrupt.sh - 1,000 damaged bundles (random truncations and bit
# flips of real ones) put on a medium: every one is refused and moved to
# ferry/rejected/ with a reason, the agent stays up, nothing from them is
# stored; then the untouched originals import, every message once.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
S=$T/stick
mkdir -p "$S" "$T/orig" || it_harness mkdir
make_node alpha
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
use_node beta
FB=$("$FERRY" info --json | json_get fingerprint)
use_node alpha
# Ten bundles of different shapes: small, several messages, one payload
# over a few chunks.
head -c 300000 /dev/urandom >"$T/p" || it_harness urandom
for k in 0 1 2 3 4 5 6 7 8 9; do
	echo "m$k" | "$FERRY" send beta/in >/dev/null || it_fail send
	if [ $((k % 3)) = 0 ]; then
		"$FERRY" send beta/in "$T/p" >/dev/null || it_fail send
	fi
	"$FERRY" export "$S" >/dev/null || it_fail "export $k"
	mv "$S/ferry/$FB/"*.bundle "$T/orig/" || it_harness "mv"
done
expect_eq "ten originals" "$(ls "$T/orig" | wc -l)" 10
# 1,000 damaged copies, 100 per import run.
python3 - "$T/orig" "$S/ferry/$FB" "$T/batch" <<'PY' || it_harness "python"
import os, random, sys
orig, dest, batchdir = sys.argv[1:4]
files = sorted(os.listdir(orig))
rng = random.Random(20261125)
os.makedirs(batchdir, exist_ok=True)
for b in range(10):
    d = os.path.join(batchdir, str(b))
    os.makedirs(d, exist_ok=True)
    for i in range(100):
        data = bytearray(open(os.path.join(orig, rng.choice(files)), "rb").read())
        if rng.random() < 0.5:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(rng.choice((1, 1, 1, 2, 8))):
                pos = rng.randrange(len(data))
                data[pos] ^= 1 << rng.randrange(8)
        open(os.path.join(d, "%02d%030x.bundle" % (i, rng.getrandbits(120))), "wb").write(data)
PY
use_node beta
for b in 0 1 2 3 4 5 6 7 8 9; do
	cp "$T/batch/$b/"* "$S/ferry/$FB/" || it_harness cp
	"$FERRY" import "$S" >"$T/imp" 2>&1 || it_fail "import of batch $b: $(tail -3 "$T/imp")"
	left=$(ls "$S/ferry/$FB/" | grep -c bundle)
	[ "$left" = 0 ] || it_fail "batch $b: $left damaged bundles not moved aside"
done
n=$(ls "$S/ferry/rejected/" | grep -c '\.bundle$')
expect_eq "all 1,000 damaged bundles refused and kept in rejected/" "$n" 1000
n=$(ls "$S/ferry/rejected/" | grep -c '\.bundle\.txt$')
expect_eq "each with its reason" "$n" 1000
expect_eq "nothing stored from them" "$(queue_count in)" 0
it_alive "$(node_pid beta)" || it_fail "beta died"
cp "$T/orig/"* "$S/ferry/$FB/" || it_harness cp
"$FERRY" import "$S" >"$T/imp" || it_fail "import of the originals: $(cat "$T/imp")"
expect_eq "every untouched bundle imported: 14 messages" "$(queue_count in)" 14
it_pass
