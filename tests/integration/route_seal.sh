#!/bin/sh
# route_seal.sh - ferry send --seal (docs/routing.md, "Sealed payloads"):
# a -> r1 -> b over TCP, a knows b's card from [directory].  a seals a
# small message, a 3 MiB one and a streamed one cut half-way (the sending
# `ferry send` killed) and sent again with the same --id (resumed: the
# sealed bytes are the same, compared with the partial), and one cut and
# sent again with another payload (refused, then sent whole); all carry a
# marker.  r1 is stopped while it holds them: the marker is nowhere in its
# state directory (store files, spool, log).  Then r1 goes on, b starts,
# and b reads all four intact (RECV, a push, FETCH from offsets).  --seal
# to a node whose card is not known, and to this node itself, are refused
# with a clear message; a payload sealed to a key that is not b's goes to
# b's dead queue, unreadable.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 of CI runs it; the tarball's suite (distcheck) need not

T=$IT_TMP
MARK=SEAL-MARKER-7f3a

make_node a
make_node r1
make_node b
node_listen r1 "$(it_free_port)"
node_listen b "$(it_free_port)"
node_peer a r1
node_peer r1 a
node_peer r1 b
node_peer b r1
printf '[route]\n* = r1\n' >>"$(node_conf a)"
printf '[route]\n* = r1\n' >>"$(node_conf b)"
printf '[directory]\nb = %s\n' "$(node_card b)" >>"$(node_conf a)"
# Sealed by default, without --seal: what a sends to queues named
# "policy" ([queue policy] seal = yes).
printf '[queue policy]\nseal = yes\n' >>"$(node_conf a)"
# b checks a's origin signature (made over the ciphertext).
printf '[directory]\na = %s\n' "$(node_card a)" >>"$(node_conf b)"
# b stays down at first: r1 keeps what it relays.
for n in a r1; do start_agent $n; done

# Payloads: the marker in the small one; in the big ones, once every
# 64 KiB (and across chunk ends) in random bytes.
printf 'hello %s sealed\n' "$MARK" >"$T/small"
mkbig() { # FILE SEED: 48 pieces of 65,530 random bytes, each + MARK
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "wb") as f:
    for i in range(48):
        f.write(r.randbytes(65530) + sys.argv[3].encode())
    f.write(b"tail" + sys.argv[3].encode() + b"\n")' "$1" "$2" "$MARK" ||
		it_harness "mkbig"
}
mkbig "$T/big" 1
mkbig "$T/cut" 2
[ "$(grep -a -c "$MARK" "$T/big")" -ge 1 ] || it_harness "no marker in big"

# --- refusals
use_node a
ferry_at a send --seal nobody/q "$T/small" >"$T/r1.out" 2>&1 &&
	it_fail "--seal to an unknown node was accepted"
grep -q '\[directory\]' "$T/r1.out" ||
	it_fail "no clear message for an unknown key: $(cat "$T/r1.out")"
ferry_at a send --seal a/q "$T/small" >"$T/r2.out" 2>&1 &&
	it_fail "--seal to this node was accepted"
grep -q 'for this node' "$T/r2.out" ||
	it_fail "no clear message for --seal to this node: $(cat "$T/r2.out")"
it_ok "--seal refused for a node with no known card, and for this node"

# --- four sealed messages for b
"$FERRY" send --seal b/in "$T/small" >/dev/null || it_fail "send small"
"$FERRY" send --seal b/big "$T/big" >/dev/null 2>"$T/big.err" ||
	it_fail "send big: $(cat "$T/big.err")"
# Cut half-way: the sender dies with half the payload streamed.
mkfifo "$T/fifo" || it_harness mkfifo
cut_send() { # ID QUEUE FILE: the send is killed after 1.6 MB
	"$FERRY" send --seal --id "$1" "b/$2" <"$T/fifo" >/dev/null 2>&1 &
	cutpid=$!
	{
		head -c 1600000 "$3"
		sleep 4
	} >"$T/fifo" &
	prodpid=$!
	sleep 2
	kill "$cutpid" 2>/dev/null
	wait "$cutpid" 2>/dev/null
	wait "$prodpid" 2>/dev/null
	ferry_at a status --partials --json >"$T/partials" 2>&1
	grep -q '"bytes":[1-9]' "$T/partials" ||
		it_fail "no partial left at a by the cut send: $(cat "$T/partials")"
}
CUTID=5ea15ea15ea15ea15ea15ea15ea10001
cut_send $CUTID cut "$T/cut"
"$FERRY" send --seal --id $CUTID b/cut "$T/cut" >/dev/null ||
	it_fail "the cut sealed send, again: $(tail -n 3 "$(node_log a)")"
grep -q 'resends a cut stream; [1-9][0-9]* bytes stored already are compared' \
	"$(node_log a)" || it_fail "the cut sealed send was not resumed: $(grep -i cut "$(node_log a)")"
# Another payload under a cut one's id: refused (the sealed bytes
# differ), the partial dropped; the same command again sends it whole.
CUTID2=5ea15ea15ea15ea15ea15ea15ea10002
cut_send $CUTID2 cut2 "$T/cut"
"$FERRY" send --seal --id $CUTID2 b/cut2 "$T/big" >"$T/differs" 2>&1 &&
	it_fail "another payload under a cut sealed send's id was accepted"
grep -q 'differs' "$T/differs" || it_fail "no clear message: $(cat "$T/differs")"
"$FERRY" send --seal --id $CUTID2 b/cut2 "$T/big" >/dev/null 2>&1 ||
	it_fail "sent again after the refusal: $(tail -n 3 "$(node_log a)")"
"$FERRY" send b/policy "$T/small" >/dev/null || it_fail "send to b/policy"
echo plain | "$FERRY" send b/policy2 >/dev/null || it_fail "send to b/policy2"
it_ok "a accepted a small, a 3 MiB, a resumed cut and a restarted cut message, sealed, and one sealed by [queue policy] seal = yes"

wait_outbound r1 6 60 ||
	it_fail "r1 holds $(node_info r1 outbound_messages) of 6 (a: $(node_info a outbound_messages)); r1 log: $(tail -n 5 "$(node_log r1)")"
wait_outbound a 0 30 || it_fail "a kept $(node_info a outbound_messages)"
stop_node r1
if grep -r -a -l "$MARK" "$(node_dir r1)" >"$T/found"; then
	it_fail "the marker is in r1's files: $(cat "$T/found")"
fi
[ -n "$(find "$(node_dir r1)" -type f -size +3000k)" ] ||
	it_note "no file of r1 over 3 MB (the big one is in the store's pages)"
it_ok "r1 held the four messages; the marker is nowhere in its state"

start_agent r1
start_agent b
use_node b
wait_count() { # QUEUE N SECS
	wc_i=0
	while [ "$(queue_count "$1")" != "$2" ]; do
		wc_i=$((wc_i + 1))
		[ $wc_i -lt $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}
wait_count in 1 60 || it_fail "b/in: $(queue_count in); r1 log: $(tail -n 5 "$(node_log r1)")"
wait_count big 1 60 || it_fail "b/big: $(queue_count big)"
wait_count cut 1 60 || it_fail "b/cut: $(queue_count cut)"
wait_count cut2 1 60 || it_fail "b/cut2: $(queue_count cut2)"
wait_count policy 1 60 || it_fail "b/policy: $(queue_count policy)"
wait_count policy2 1 60 || it_fail "b/policy2: $(queue_count policy2)"
"$FERRY" recv policy --json >"$T/p1" || it_fail "recv policy"
grep -q '"sealed"' "$T/p1" || it_fail "b/policy not sealed by [queue policy] seal: $(cat "$T/p1")"
"$FERRY" recv policy2 --json >"$T/p2" || it_fail "recv policy2"
grep -q '"sealed"' "$T/p2" && it_fail "b/policy2 sealed, no policy says so: $(cat "$T/p2")"
it_ok "[queue policy] seal = yes sealed b/policy by default, and only it"
# The small one by a subscription's push (the Python client).
python3 -c 'import sys
sys.path.insert(0, sys.argv[1])
import ferry
c = ferry.connect(sys.argv[2])
with c.subscribe("in", wait=10) as s:
    for m in s:
        if not m.flags & 8:  # FERRY_MSG_SEALED
            sys.exit("flags %r" % m.flags)
        open(sys.argv[3], "wb").write(m.payload)
        break' "$(dirname "$0")/../../clients/python" "$(node_sock b)" \
	"$T/small.out" >"$T/sub" 2>&1 || it_fail "subscribe: $(cat "$T/sub")"
cmp -s "$T/small" "$T/small.out" || it_fail "the small payload differs"
# FETCH from offsets (mid-chunk, a chunk's start, far in): the opener
# seeks to a chunk and skips (tests/integration/seal_fetch.py).
mkdir -p "$T/peek" || it_harness mkdir
bigid=$("$FERRY" recv big --peek --out "$T/peek" --json | json_get id)
[ -n "$bigid" ] || it_fail "no id for b/big"
cmp -s "$T/big" "$T/peek/$bigid" || it_fail "the peeked big payload differs"
python3 "$(dirname "$0")/seal_fetch.py" "$(dirname "$0")/../../clients/python" \
	"$(node_sock b)" "$bigid" "$T/big" 100000 196608 1000001 >"$T/fetch" 2>&1 ||
	it_fail "FETCH with an offset: $(cat "$T/fetch")"
it_ok "FETCH of the sealed 3 MiB payload from offsets 100000, 196608, 1000001"
"$FERRY" recv big >"$T/big.out" || it_fail "recv big"
cmp -s "$T/big" "$T/big.out" || it_fail "the big payload differs"
mkdir -p "$T/o" || it_harness mkdir
"$FERRY" recv cut --out "$T/o" --json >"$T/cut.json" || it_fail "recv cut"
grep -q '"size":'"$(wc -c <"$T/cut")"',' "$T/cut.json" ||
	it_fail "the header's payload_len is not the plaintext's: $(head -c 400 "$T/cut.json")"
cmp -s "$T/cut" "$T/o"/* || it_fail "the resent cut payload differs"
grep -q '"flags":\["sealed"\]' "$T/cut.json" || it_fail "flags: $(head -c 300 "$T/cut.json")"
grep -q '"origin":"verified"' "$T/cut.json" || it_fail "origin: $(head -c 400 "$T/cut.json")"
expect_eq "messages left in b/dead" "$(queue_count dead)" 0
"$FERRY" recv cut2 >"$T/cut2.out" || it_fail "recv cut2"
cmp -s "$T/big" "$T/cut2.out" || it_fail "the restarted cut payload differs"
it_ok "b reads the four intact (cmp), the header says the plaintext length"

# --- sealed to a key that is not b's (r1's card under b's name): b
# cannot open it, so it goes to b's dead queue as unreadable, logged.
sed -i "s|^b = .*\$|b = $(node_card r1)|" "$(node_conf a)"
kill -HUP "$(node_pid a)"
sleep 1
wid=$(printf 'wrong key %s\n' "$MARK" | ferry_at a send --seal b/wrong) ||
	it_fail "send to the wrong key"
wait_count wrong 1 60 || it_fail "b/wrong: $(queue_count wrong)"
"$FERRY" recv wrong >"$T/wrong.out" 2>&1 &&
	it_fail "b read a payload sealed to another key: $(cat "$T/wrong.out")"
expect_eq "messages in b/wrong after a read" "$(queue_count wrong)" 0
expect_eq "messages in b/dead" "$(queue_count dead)" 1
"$FERRY" status "$wid" >"$T/dead.txt" 2>&1 || it_fail "status $wid"
grep -q 'unreadable' "$T/dead.txt" || it_fail "b's dead letter: $(cat "$T/dead.txt")"
grep -q 'does not open' "$(node_log b)" || it_fail "b's log says nothing"
it_ok "a payload sealed to another key goes to b's dead queue, unreadable"
# A clean exit (with sanitizers: no leak of a sealer or opener).
for n in a r1 b; do stop_node $n; done
it_ok "a, r1 and b stop cleanly"
it_pass
