#!/bin/sh
# sneak_race.sh - one large message reaches its node over TCP and on a
# stick at the same time: it must be stored exactly once, whole.
# fb listens, fa dials it, fa's [peer fb] has `rate = 2M`: a 48 MiB
# message takes about 25 s on the wire.  fa sends one to fb/q and at once
# exports it onto a folder (`--segment 4M`: 13 bundles); 4 s into the
# transfer fb imports from a second folder
#   round 1 (fa -> fb): only the first bundle (the lowest sequence
#	number: the payload's first 4 MB, no END), moved there;
#   round 2 (fa2 -> fb2, the same set-up): a complete copy of every
#	bundle.
# The two rounds run at once on two pairs of agents (neither can disturb
# the other, and the test takes one transfer's time).  Then, once the
# sender's status says "handed" and the receiver's q holds the message
# (90 s after the send at most, whatever happens in between: a stick copy
# deferred and applied later, a TCP sender told "busy" that tries again),
# at the receiver: q holds the message exactly once, dead holds nothing;
# the rest of the bundles, imported afterwards, store nothing more;
# `ferry recv q` gives exactly the bytes that were sent (sha256; the
# payload is generated from a seed and never kept); then q is empty.  At
# the sender: the message "handed", also after the custody receipts on
# the folders are imported; nothing stored, nothing outbound.  No "cannot
# store message" or "payload read failed" in any log.  Every check runs
# and is reported before the test fails.
# 30 to 40 s on 2 cores.  FERRY_TEST_SEED=N picks other payloads.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
size=$((48 * 1024 * 1024))
seed=${FERRY_TEST_SEED:-2718}
it_note "seed $seed"

# Round 1: fa -> fb; round 2: fa2 -> fb2.
for n in '' 2; do
	make_node "fa$n"
	make_node "fb$n"
	node_listen "fb$n" "$(it_free_port)"
	node_peer "fa$n" "fb$n" "rate = 2M"
	node_peer "fb$n" "fa$n"
	start_agent "fa$n"
	start_agent "fb$n"
done


# A check that does not stop the test: every finding is reported, and the
# test fails at the end if any check did.
: >"$T/failed"
check_eq() {
	if [ "$2" = "$3" ]; then
		it_ok "$1"
	else
		echo "not ok - $1: got '$2', wanted '$3'"
		echo "$1: got '$2', wanted '$3'" >>"$T/failed"
	fi
}
check_fail() {
	echo "not ok - $*"
	echo "$*" >>"$T/failed"
}

# bundles_by_seq DIR FPR: the bundle files for FPR in DIR, lowest
# sequence number first.
bundles_by_seq() {
	for bs_f in "$1/ferry/$2/"*.bundle; do
		[ -f "$bs_f" ] || continue
		echo "$(it_bundle_seq "$bs_f") $bs_f"
	done | sort | cut -d ' ' -f 2
}

ms_sleep() {
	[ "$1" -gt 0 ] || return 0
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# The sessions must be up before anything is sent, so that the transfers
# start at once: a small message brings each up (fa dials only when
# something waits).
for n in '' 2; do
	echo warm | ferry_at "fa$n" send "fb$n/warm" >/dev/null || it_fail "fa$n: send"
	wait_count "fb$n" warm 1 20 || it_fail "fa$n did not reach fb$n within 20 s"
	ferry_at "fb$n" recv warm >/dev/null || it_fail "fb$n: recv warm-up"
done

t0=$(it_now_ms)
# start R SENDER RECEIVER: the sender sends round R's message to
# RECEIVER/q and exports it at once onto $T/stick.R.
start() {
	mkdir -p "$T/stick.$1" || it_harness mkdir
	st_id=$(it_gen $((seed + $1)) $size | ferry_at "$2" send "$3/q") ||
		it_fail "round $1: $2: send"
	echo "$st_id" >"$T/id.$1"
	it_now_ms >"$T/sent.$1"
	ferry_at "$2" export "$T/stick.$1" --segment 4M -q >"$T/exp.$1" 2>&1 ||
		it_fail "round $1: $2: export: $(cat "$T/exp.$1")"
	it_note "round $1: $2 sent $st_id to $3/q at $(($(cat "$T/sent.$1") - t0)) ms, exported it by $(($(it_now_ms) - t0)) ms: $(grep "^$3:" "$T/exp.$1")"
}

# stick R SENDER RECEIVER WHAT: the bundles of round R that go to the
# receiver during the transfer, WHAT "first" (moved) or "all" (copied)
# into $T/stick2.R.
stick() {
	sk_f=$(ferry_at "$3" info --json | json_get fingerprint)
	[ -n "$sk_f" ] || it_harness "no fingerprint for $3"
	bundles_by_seq "$T/stick.$1" "$sk_f" >"$T/bundles.$1"
	sk_n=$(wc -l <"$T/bundles.$1" | tr -d ' ')
	[ "$sk_n" -ge 12 ] ||
		it_harness "round $1: $sk_n bundles for 48 MiB in 4M segments"
	mkdir -p "$T/stick2.$1/ferry/$sk_f" || it_harness mkdir
	if [ "$4" = first ]; then
		mv "$(head -n 1 "$T/bundles.$1")" "$T/stick2.$1/ferry/$sk_f/" ||
			it_harness mv
		sk_what="the first of $sk_n bundles (sequence $(it_bundle_seq "$T/stick2.$1/ferry/$sk_f/"*.bundle))"
	else
		cp "$T/stick.$1/ferry/$sk_f/"*.bundle "$T/stick2.$1/ferry/$sk_f/" ||
			it_harness cp
		sk_what="all $sk_n bundles"
	fi
	echo "$sk_what" >"$T/what.$1"
}

# mid R SENDER RECEIVER: 4 s into the transfer, the receiver imports
# $T/stick2.R (the transfer must still be on: else the race was not set
# up, a harness error).
mid() {
	ms_sleep $(($(cat "$T/sent.$1") + 4000 - $(it_now_ms)))
	md_id=$(cat "$T/id.$1")
	md_st=$(ferry_at "$2" status "$md_id" --json | json_get status)
	[ "$md_st" = inflight ] ||
		it_harness "round $1: $md_id is '$md_st' at $2 4 s into its transfer, not in flight: $(ferry_at "$2" status "$md_id")"
	md_t=$(($(it_now_ms) - $(cat "$T/sent.$1")))
	ferry_at "$3" import "$T/stick2.$1" -q >"$T/imp.$1" 2>&1 ||
		check_fail "round $1: $3: import of the stick during the transfer failed: $(cat "$T/imp.$1")"
	it_note "round $1: $3 imported $(cat "$T/what.$1") $md_t ms into the transfer, in $(($(it_now_ms) - $(cat "$T/sent.$1") - md_t)) ms: $(tr '\n' ' ' <"$T/imp.$1")"
}

# Round 2 starts once round 1's import is done (a busy machine would
# otherwise push that import past its moment).
start 1 fa fb
stick 1 fa fb first
mid 1 fa fb
start 2 fa2 fb2
stick 2 fa2 fb2 all
mid 2 fa2 fb2
# The sha256 of what was sent, while the transfers go on.
it_gen $((seed + 1)) $size | sha256sum | cut -d ' ' -f 1 >"$T/want.1" &
p1=$!
it_gen $((seed + 2)) $size | sha256sum | cut -d ' ' -f 1 >"$T/want.2" &
p2=$!
wait $p1 $p2 || it_harness "it_gen | sha256sum"

# settle R SENDER RECEIVER: wait (until 90 s after the send) for the
# sender to say "handed" and the receiver's q to hold the message.
settle() {
	sl_id=$(cat "$T/id.$1")
	sl_end=$(($(cat "$T/sent.$1") + 90000))
	while :; do
		sl_st=$(ferry_at "$2" status "$sl_id" --json | json_get status)
		sl_n=$(FERRY_SOCKET=$(node_sock "$3") queue_count q)
		[ "$sl_st" = handed ] && [ "$sl_n" = 1 ] && break
		[ "$(it_now_ms)" -lt $sl_end ] || break
		sleep 0.2
	done
	it_note "round $1: $2 says '$sl_st', $3's q holds $sl_n, $(($(it_now_ms) - $(cat "$T/sent.$1"))) ms after the send"
}
settle 1 fa fb
settle 2 fa2 fb2

# check R SENDER RECEIVER
check() {
	ck_id=$(cat "$T/id.$1")
	use_node "$3"
	check_eq "round $1: $3's q holds the message once" "$(queue_count q)" 1
	check_eq "round $1: $3's dead queue is empty" "$(queue_count dead)" 0
	it_note "round $1: at $3: $("$FERRY" status "$ck_id" | head -n 1)"
	# What is left of the bundles, imported now: nothing more is stored.
	"$FERRY" import "$T/stick.$1" -q >"$T/imp2.$1" 2>&1 ||
		check_fail "round $1: $3: import of the rest of the bundles failed: $(cat "$T/imp2.$1")"
	it_note "round $1: $3 imported the rest: $(grep -v '^refused' "$T/imp2.$1" | tr '\n' ' ')"
	check_eq "round $1: $3's q still holds it once after the rest of the bundles" \
		"$(queue_count q)" 1
	{
		"$FERRY" recv q 2>"$T/recv.err.$1"
		echo $? >"$T/recv.rc.$1"
	} | sha256sum | cut -d ' ' -f 1 >"$T/got.$1"
	ck_rc=$(cat "$T/recv.rc.$1")
	if [ "$ck_rc" = 0 ]; then
		it_ok "round $1: $3: ferry recv q"
	else
		ck_sp=$(find "$(node_dir "$3")" -path "*/spool/$ck_id" -exec stat -c %s {} \;)
		check_fail "round $1: $3: ferry recv q exited $ck_rc: $(tr '\n' ' ' <"$T/recv.err.$1")(the spool file of $ck_id holds ${ck_sp:-no} bytes, of $size)"
	fi
	check_eq "round $1: $3: the payload is the $size bytes $2 sent (sha256)" \
		"$(cat "$T/got.$1")" "$(cat "$T/want.$1")"
	"$FERRY" recv q >/dev/null 2>&1
	check_eq "round $1: $3: a second ferry recv q finds q empty (exit 3)" $? 3
	check_eq "round $1: $3's dead queue is still empty" "$(queue_count dead)" 0
	# The sender: nothing left; the custody receipts on the folders
	# change nothing.
	use_node "$2"
	for ck_s in "$T/stick2.$1" "$T/stick.$1"; do
		"$FERRY" import "$ck_s" -q >"$T/imp3.$1" 2>&1 ||
			check_fail "round $1: $2: import of the receipts on $ck_s failed: $(cat "$T/imp3.$1")"
	done
	check_eq "round $1: $2: the message is 'handed'" \
		"$("$FERRY" status "$ck_id" --json | json_get status)" handed
	for ck_n in "$2" "$3"; do
		check_eq "round $1: $ck_n: messages stored" \
			"$(ferry_at "$ck_n" info --json | json_get messages)" 0
		check_eq "round $1: $ck_n: messages outbound" \
			"$(ferry_at "$ck_n" info --json | json_get outbound_messages)" 0
		if grep -E 'cannot store message|payload read failed|session ended: ended$' \
			"$(node_log "$ck_n")" >"$T/bad.$ck_n"; then
			check_fail "round $1: $ck_n's log: $(head -n 3 "$T/bad.$ck_n" | tr '\n' ' ')"
		else
			it_ok "round $1: $ck_n's log: no 'cannot store message', no 'payload read failed'"
		fi
	done
}
check 1 fa fb
check 2 fa2 fb2
it_note "$(($(it_now_ms) - t0)) ms"
if [ -s "$T/failed" ]; then
	it_fail "$(wc -l <"$T/failed" | tr -d ' ') checks failed, the first: $(head -n 1 "$T/failed")"
fi
for n in fa fb fa2 fb2; do
	stop_node $n
done
it_pass
