#!/bin/sh
# sneak_fat.sh - ferry export / import on real FAT32 and exFAT file
# systems, mounted through FUSE from image files (medium.sh): a round trip
# alpha -> stick -> beta, carried (unmounted, mounted again) both ways,
# with a payload larger than one bundle file (--segment 1M); custody back
# to alpha; a 50 MB medium filled by priority that stops cleanly with a
# summary; a stick pulled in the middle of an export (the FUSE daemon
# killed): after fsck and a new mount, the next export discards the torn
# .part and nothing is lost or duplicated.  FAT32 by default; exFAT too
# with FERRY_TEST_LONG=1 (the same code path through another FUSE driver).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/medium.sh"

it_heavy
T=$IT_TMP
[ "$(id -u)" = 0 ] || it_skip "FUSE media need root here"
it_at_exit medium_cleanup_all
make_node alpha
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
msgs_in() { # NODE QUEUE: the payloads, sorted
	use_node "$1"
	while "$FERRY" recv "$2" 2>/dev/null; do :; done | sort
}

KINDS=fat
[ "${FERRY_TEST_LONG:-0}" = 1 ] && KINDS="fat exfat"
for kind in $KINDS; do
	if ! medium_available $kind 2>"$T/why"; then
		it_note "no $kind medium here: $(cat "$T/why")"
		continue
	fi
	img=$T/$kind.img
	mnt=$T/$kind
	mkdir -p "$mnt" || it_harness mkdir
	medium_make $kind "$img" 64 "$mnt" || it_harness "cannot make a $kind medium"

	# --- round trip, with a payload cut into 1 MiB files
	use_node alpha
	head -c 2500000 /dev/urandom >"$T/big" || it_harness urandom
	id_big=$("$FERRY" send beta/big "$T/big") || it_fail send
	for k in 1 2 3 4 5; do
		echo "$kind-$k" | "$FERRY" send beta/in >/dev/null || it_fail send
	done
	"$FERRY" export "$mnt" --segment 1M >"$T/exp" || it_fail "$kind export: $(cat "$T/exp")"
	n=$(find "$mnt/ferry" -name '*.bundle' | wc -l)
	[ "$n" -ge 3 ] || it_fail "$kind: the 2.5 MB payload in $n files"
	it_ok "$kind: export cut into $n bundle files of at most 1 MiB"
	big=$(find "$mnt/ferry" -name '*.bundle' -size +1025k | wc -l)
	expect_eq "$kind: no file above the segment size" "$big" 0
	medium_remount $kind "$img" "$mnt" || it_fail "$kind: remount"
	use_node beta
	"$FERRY" import "$mnt" >"$T/imp1" || it_fail "$kind import: $(cat "$T/imp1")"
	"$FERRY" recv big >"$T/big2" || it_fail "$kind: recv big"
	cmp -s "$T/big" "$T/big2" || it_fail "$kind: the payload differs"
	expect_eq "$kind: five small messages" "$(msgs_in beta in | wc -l)" 5
	medium_remount $kind "$img" "$mnt" || it_fail "$kind: remount 2"
	use_node alpha
	"$FERRY" import "$mnt" >"$T/imp" || it_fail "$kind: alpha import"
	st=$("$FERRY" status "$id_big" --json | json_get status)
	[ "$st" = handed ] || it_fail "$kind: the big one at alpha is $st: $(cat "$T/imp"; cat "$T/imp1")"
	it_ok "$kind: custody of the big one back at alpha"
	medium_fsck $kind "$img" >/dev/null 2>&1 || true
	medium_unmount "$mnt" || it_fail "$kind: unmount"
	medium_fsck $kind "$img" || it_fail "$kind: fsck after a clean unmount: $MEDIUM_FSCK_OUT"
	it_ok "$kind: the file system is clean after the round trip"
	rm -f "$img"
done

# --- a 50 MB FAT medium: filled by priority, stops with a summary
if medium_available fat 2>/dev/null; then
	img=$T/small.img
	mnt=$T/small
	mkdir -p "$mnt"
	medium_make fat "$img" 50 "$mnt" || it_harness "small medium"
	use_node alpha
	head -c 8000000 /dev/urandom >"$T/p8" || it_harness urandom
	# 6 urgent and 6 bulk messages of 8 MB: only about 5 fit.
	for k in 1 2 3 4 5 6; do
		"$FERRY" send beta/bulk "$T/p8" --priority 0 >/dev/null || it_fail send
		"$FERRY" send beta/urgent "$T/p8" --urgent >/dev/null || it_fail send
	done
	"$FERRY" export "$mnt" >"$T/exp" || it_fail "small export: $(cat "$T/exp")"
	grep -q 'did not fit: [1-9]' "$T/exp" || it_fail "no 'did not fit': $(cat "$T/exp")"
	it_ok "a full medium: export stops cleanly and says what did not fit"
	ls "$mnt/ferry/"*/ | grep -q part && it_fail "a .part left on a full medium"
	use_node beta
	"$FERRY" import "$mnt" >"$T/imp" || it_fail "small import: $(cat "$T/imp")"
	nu=$(use_node beta; queue_count urgent)
	nb=$(use_node beta; queue_count bulk)
	[ "$nu" -ge 4 ] || it_fail "only $nu urgent messages fitted"
	[ "$nb" -le 1 ] || it_fail "$nb bulk messages went before urgent ones"
	it_ok "the medium was filled by priority ($nu urgent, $nb bulk)"
	medium_unmount "$mnt"
	rm -f "$img"
fi

# --- a stick pulled in the middle of an export
if medium_available fat 2>/dev/null; then
	img=$T/pull.img
	mnt=$T/pull
	mkdir -p "$mnt"
	medium_make fat "$img" 400 "$mnt" || it_harness "pull medium"
	use_node alpha
	while "$FERRY" recv x 2>/dev/null; do :; done
	for k in $(seq 1 20); do
		echo "pull-$k" | "$FERRY" send beta/pulled >/dev/null || it_fail send
	done
	head -c 120000000 /dev/urandom >"$T/p120" || it_harness urandom
	id_p=$("$FERRY" send beta/pulledbig "$T/p120" --priority 0) || it_fail send
	"$FERRY" export "$mnt" --again >"$T/exp" 2>&1 &
	exp_pid=$!
	# Pull once some of it is on the medium.
	i=0
	while [ $i -lt 100 ]; do
		find "$mnt/ferry" -name '*.part' -size +20M 2>/dev/null | grep -q . && break
		sleep 0.1
		i=$((i + 1))
	done
	medium_pull "$mnt" || it_harness "pull"
	wait $exp_pid
	it_ok "export ended after the pull ($(tail -1 "$T/exp"))"
	medium_fsck fat "$img" >/dev/null 2>&1
	medium_mount fat "$img" "$mnt" || it_fail "the pulled medium does not mount"
	"$FERRY" export "$mnt" --again >"$T/exp2" || it_fail "export after the pull: $(cat "$T/exp2")"
	find "$mnt/ferry" -name '*.part' | grep -q . && it_fail "a torn .part survived"
	it_ok "the next export discarded the torn .part"
	use_node beta
	"$FERRY" import "$mnt" >"$T/imp" || it_fail "import after pull: $(cat "$T/imp")"
	got=$(msgs_in beta pulled)
	n=$(echo "$got" | grep -c '^pull-')
	[ "$n" = 20 ] || it_fail "after the pull: $n small ones: $(cat "$T/exp2" "$T/imp"; use_node beta; "$FERRY" queues; echo "$got" | head -c 300)"
	it_ok "after the pull: the 20 small ones"
	expect_eq "no duplicates" "$(echo "$got" | grep '^pull-' | sort -u | wc -l)" 20
	use_node beta
	"$FERRY" status "$id_p" --json | json_get status | grep -q 'acked\|queued\|unknown' ||
		it_fail "the 120 MB one: $("$FERRY" status "$id_p")"
	medium_unmount "$mnt"
fi

# --- custody back across a medium whose free space begins past 2 GiB
# (fusefat cannot use a folder beyond the first 2 GiB of the image): a
# 3 GiB export followed by an import that made the sender's folder lost
# the receipts ("not found").  The big export is simulated by moving
# FSINFO's next-free cluster past 2 GiB, where the folders that follow
# go; the image stays sparse.
if medium_available fat 2>/dev/null; then
	make_node carol
	make_node dave
	node_peer carol dave
	node_peer dave carol
	start_agent carol
	start_agent dave
	fpr_c=$("$FERRY" keygen --dir "$(node_dir carol)" --json | json_get fingerprint)
	img=$T/far.img
	mnt=$T/far
	mkdir -p "$mnt"
	medium_make fat "$img" 3072 "$mnt" || it_harness "3 GiB medium"
	use_node carol
	id_far=$(echo far | "$FERRY" send dave/far) || it_fail send
	"$FERRY" export "$mnt" -q >"$T/exp" || it_fail "far export: $(cat "$T/exp")"
	medium_unmount "$mnt" || it_fail "far: unmount"
	medium_fat_next_free "$img" 2147483648 || it_harness "next free cluster"
	medium_mount fat "$img" "$mnt" || it_fail "far: mount"
	use_node dave
	"$FERRY" import "$mnt" -q >"$T/imp" || it_fail "far import: $(cat "$T/imp")"
	grep -q 'custody receipts written' "$T/imp" ||
		it_fail "far: no receipts on the medium: $(cat "$T/imp")"
	medium_remount fat "$img" "$mnt" || it_fail "far: remount"
	use_node carol
	"$FERRY" import "$mnt" -q >"$T/imp2" || it_fail "far: carol import"
	st=$("$FERRY" status "$id_far" --json | json_get status)
	[ "$st" = handed ] || it_fail "far: the message at carol is $st: $(cat "$T/imp" "$T/imp2")"
	it_ok "custody back through a medium whose free space begins past 2 GiB"
	# A folder made there now is unusable: said, not "not found".
	echo far2 | "$FERRY" send dave/far >/dev/null || it_fail send
	"$FERRY" export "$mnt" -q >"$T/exp" || it_fail "far export 2: $(cat "$T/exp")"
	rmdir "$mnt/ferry/$fpr_c" || it_fail "far: carol's folder is not empty"
	use_node dave
	"$FERRY" import "$mnt" -q >"$T/imp" || it_fail "far import 2: $(cat "$T/imp")"
	grep -q 'driver is faulty (fusefat' "$T/imp" ||
		it_fail "far: a folder past 2 GiB not explained: $(cat "$T/imp")"
	expect_eq "far: the second message arrived" "$(msgs_in dave far | tr '\n' ' ')" "far far2 "
	medium_unmount "$mnt"
	rm -f "$img"
fi
it_pass
