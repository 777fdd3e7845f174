#!/bin/sh
# agent_smallvol.sh - a node on a small volume takes messages (issue 12
# item 9): the store's state on a 64 MiB and on a 32 MiB tmpfs (an SD
# card, a small partition) accepts a small message and one of an eighth
# of the volume, gives both back intact, and refuses, with a clear
# "disk full" that quotes the reserve, a message that cannot fit.
# Before, the reserve (raised to 1.25 x cache + 32 MiB, plus an 8 MiB
# emergency file) refused every message below about 70 MiB.
# Needs root (mounts a tmpfs; skipped otherwise).  About 3 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
[ "$(id -u)" = 0 ] || it_skip "needs root to mount a tmpfs"

for mib in 64 32; do
	n=small$mib
	make_node "$n"
	vol=$(node_dir "$n")/store
	mkdir -p "$vol" || it_harness "mkdir $vol"
	mount -t tmpfs -o "size=${mib}m,mode=0700" tmpfs "$vol" 2>"$T/mount.err" ||
		it_skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
	it_at_exit "umount -l '$vol' 2>/dev/null"
	start_agent "$n"
	FERRY_SOCKET=$(node_sock "$n")
	export FERRY_SOCKET
	id1=$(printf hello | "$FERRY" send "$n/q" 2>"$T/err") ||
		it_fail "a $mib MiB volume refused a 5-byte message: $(cat "$T/err")"
	head -c $((mib * 1024 * 1024 / 8)) /dev/urandom >"$T/big" ||
		it_harness "payload"
	id2=$("$FERRY" send "$n/q" "$T/big" 2>"$T/err") ||
		it_fail "a $mib MiB volume refused $((mib / 8)) MiB: $(cat "$T/err")"
	it_ok "$mib MiB volume: a small message and one of $((mib / 8)) MiB accepted"
	expect_eq "$mib MiB: the small one back" "$("$FERRY" recv q)" hello
	"$FERRY" recv q >"$T/got" || it_fail "$mib MiB: recv of the big one"
	cmp -s "$T/got" "$T/big" || it_fail "$mib MiB: the big one differs"
	it_ok "$mib MiB: both back intact ($id1, $id2)"
	head -c $((mib * 1024 * 1024)) /dev/zero >"$T/huge"
	"$FERRY" send "$n/q" "$T/huge" >/dev/null 2>"$T/err" &&
		it_fail "$mib MiB: a message as large as the volume was accepted"
	grep -q "MiB kept in reserve" "$T/err" ||
		it_fail "$mib MiB: the refusal does not quote the reserve: $(cat "$T/err")"
	it_ok "$mib MiB: too large is refused: $(head -n 1 "$T/err")"
	printf after | "$FERRY" send "$n/q" >/dev/null 2>"$T/err" ||
		it_fail "$mib MiB: a small message after the refusal: $(cat "$T/err")"
	it_ok "$mib MiB: a small one still goes after the refusal"
	stop_node "$n"
	rm -f "$T/big" "$T/got" "$T/huge"
done
it_pass
