#!/bin/sh
# link_resume_hash.sh - a transfer resumed far into a large payload keeps
# its session alive (issue 12 item 17): to go on from the receiver's
# offset the sender first hashes the prefix again, read back from its
# store.  That used to be done in one go on the session's writer thread,
# with no keep-alive meanwhile; with a keep-alive shorter than the time
# the hashing takes (a slow disk, a large prefix; here 100 ms against
# some 200 MB), the receiver declared the link dead, and the next session
# did the same, for ever.  Now the prefix is hashed a few MiB between
# records, keep-alives go on, and the message arrives.
# alpha sends 256 MiB at rate = 64M and stops once beta holds 110 MB
# (the transfer starts while the send comes in: cut-through); when it comes back
# the transfer resumes where beta was (log "resuming ... at N", N above
# 100 MB) and the payload arrives whole within 30 s, with at most one
# session ended on the way.  About 15 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
size=$((256 * 1024 * 1024))
make_node alpha
make_node beta
node_listen beta "$(it_free_port)"
node_peer alpha beta "rate = 64M" "keepalive = 100ms"
node_peer beta alpha "keepalive = 100ms"
start_agent alpha
start_agent beta
use_node alpha
head -c "$size" /dev/urandom >"$T/payload" || it_harness "payload"
sum=$(sha256sum <"$T/payload" | cut -d ' ' -f 1)
id=$("$FERRY" send beta/q "$T/payload") || it_fail "alpha: send"
rm -f "$T/payload"
spool=$(node_dir beta)/store/spool/$id
i=0
while [ "$(wc -c <"$spool" 2>/dev/null || echo 0)" -lt 110000000 ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || it_harness "beta holds $(wc -c <"$spool" 2>/dev/null) bytes after 20 s"
	sleep 0.1
done
stop_node alpha
[ -f "$spool" ] || it_harness "beta kept no partial"
kept=$(wc -c <"$spool" | tr -d ' ')
[ "$kept" -gt $((100 * 1000 * 1000)) ] && [ "$kept" -lt "$size" ] ||
	it_harness "beta's partial holds $kept of $size bytes (rate?)"
it_note "beta kept $kept of $size bytes"
ended0=$(grep -c "session ended" "$(node_log beta)")
start_agent alpha
wait_count beta q 1 30 ||
	it_fail "not delivered within 30 s of the restart; beta: $(grep -c "session ended" "$(node_log beta)") sessions ended, the last: $(grep "session ended" "$(node_log beta)" | tail -n 1)"
grep -q "resuming message $id at $kept of $size bytes" "$(node_log beta)" ||
	it_fail "beta did not resume at $kept"
it_ok "resumed at $kept of $size bytes and delivered"
ended=$(($(grep -c "session ended" "$(node_log beta)") - ended0))
[ "$ended" -le 1 ] ||
	it_fail "$ended sessions ended after the restart (keep-alives stopped while hashing?)"
it_ok "no session lost while the $kept-byte prefix was hashed again"
use_node beta
got=$("$FERRY" recv q | sha256sum | cut -d ' ' -f 1)
expect_eq "the payload's sha256" "$got" "$sum"
stop_node alpha
stop_node beta
it_pass
