#!/bin/sh
# link_compress.sh - compression on a TCP link (issue 15 aim 5, docs/hop.md
# 4.8): a text log crosses as CHUNKZ frames and arrives byte-identical with
# at most 0.35 of its size on the wire (alpha's `ferry peers` bytes_out);
# random bytes, whose sample does not shrink, go plain (bytes on the wire
# about their size); a compressed message whose link is cut midway resumes
# at the receiver's durable offset and arrives identical.
# rate = 4M so the cut lands midway.  About 6 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not

T=$IT_TMP
make_node alpha
make_node beta
node_listen beta "$(it_free_port)"
node_peer alpha beta "rate = 4M"
node_peer beta alpha
start_agent alpha
start_agent beta
use_node alpha

out() { ferry_at alpha peers --json | json_get bytes_out; }
# wait_out N: until alpha counts N messages out (custody back).
wait_out() {
	wo=0
	while [ "$(ferry_at alpha peers --json | json_get messages_out)" != "$1" ]; do
		[ $wo -gt 200 ] && it_fail "alpha: $(ferry_at alpha peers --json)"
		sleep 0.1
		wo=$((wo + 1))
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# 1. A text log: compressed.
text=$((8 * 1024 * 1024))
it_textlog 1 $text >"$T/log" || it_harness "text log"
text=$(wc -c <"$T/log" | tr -d ' ')
sum_log=$(sha256sum <"$T/log" | cut -d ' ' -f 1)
o0=$(out)
"$FERRY" send beta/q "$T/log" >/dev/null || it_fail "send the log"
wait_count beta q 1 30 || it_fail "the log did not arrive"
wait_out 1
o1=$(out)
r=$(ratio $((o1 - o0)) $text)
it_note "text log: $text bytes, $((o1 - o0)) on the wire (x$r)"
awk -v r="$r" 'BEGIN { exit !(r <= 0.35) }' ||
	it_fail "the text log took x$r of its size on the wire (aim <= 0.35)"
it_ok "a $text-byte text log took x$r of its size on the wire"

# 2. Random bytes: the sample does not shrink, the message goes plain.
rnd=$((2 * 1024 * 1024))
head -c $rnd /dev/urandom >"$T/rnd" || it_harness "random"
sum_rnd=$(sha256sum <"$T/rnd" | cut -d ' ' -f 1)
"$FERRY" send beta/q "$T/rnd" >/dev/null || it_fail "send random"
wait_count beta q 2 30 || it_fail "the random message did not arrive"
wait_out 2
o2=$(out)
r=$(ratio $((o2 - o1)) $rnd)
it_note "random: $rnd bytes, $((o2 - o1)) on the wire (x$r)"
awk -v r="$r" 'BEGIN { exit !(r >= 1.0 && r <= 1.01) }' ||
	it_fail "random bytes took x$r of their size (plain: 1.00 .. 1.01)"
it_ok "random bytes went plain (x$r)"

use_node beta
got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
expect_eq "the text log's sha256" "$got" "$sum_log"
got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
expect_eq "the random message's sha256" "$got" "$sum_rnd"

# 3. Cut midway: 16 MiB of text (about 3.7 MB on the wire, 0.9 s at
# 4 MB/s); alpha stops after 0.4 s, beta keeps a partial copy.
it_textlog 2 $((16 * 1024 * 1024)) >"$T/big" || it_harness "big log"
size=$(wc -c <"$T/big" | tr -d ' ')
sum_big=$(sha256sum <"$T/big" | cut -d ' ' -f 1)
use_node alpha
id=$("$FERRY" send beta/q "$T/big") || it_fail "send the big log"
sleep 0.4
stop_node alpha
spool=$(node_dir beta)/store/spool/$id
[ -f "$spool" ] || it_harness "beta kept no partial after 0.4 s"
kept=$(wc -c <"$spool" | tr -d ' ')
[ "$kept" -gt 0 ] && [ "$kept" -lt "$size" ] ||
	it_harness "beta's partial holds $kept of $size bytes (rate?)"
it_note "beta kept $kept of $size bytes"
start_agent alpha
wait_count beta q 1 30 || it_fail "not delivered within 30 s of the restart"
grep -q "resuming message $id at $kept of $size bytes" "$(node_log beta)" ||
	it_fail "beta did not resume at $kept"
use_node beta
got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
expect_eq "the resumed log's sha256" "$got" "$sum_big"
it_ok "a compressed transfer cut at $kept of $size bytes resumed there"
stop_node alpha
stop_node beta
it_pass
