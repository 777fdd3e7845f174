#!/bin/sh
# agent_ids.sh - an id chosen by a client (`ferry send --id`) cannot be
# squatted (issue 12, item 7):
#  (a) on one node: root sends under --id X first; a second user's send
#      with --id X is still stored (another id: ids chosen by clients are
#      scoped to their uid); the same user sending --id X again gets the
#      duplicate answer and the id of its first send, and so does root;
#  (b) over TCP: a message from a peer is on its way with id I (the user
#      at the source printed it); a local user at the destination sends
#      with --id I before it arrives; the message from the peer is still
#      delivered, not dropped as a duplicate.
# Needs root (a temporary user) and setpriv(1); skipped otherwise.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
it_temp_user ferryid
it_sockdir
as_member "$FERRY" --help >/dev/null 2>&1 ||
	it_skip "user $usr cannot run $FERRY (the build directory is closed)"

make_node field "[node]" "socket = $sockdir/field.sock" \
	"socket_group = $grp" "socket_mode = 0660"
make_node base
node_listen base "$(it_free_port)"
node_peer field base
node_peer base field
printf '[acl]\nallow = user:%s send field/inbox\nallow = user:%s send base/inbox\n' \
	"$usr" "$usr" >>"$(node_conf field)"
start_agent field

# --- (a) one node, two users, one chosen id
X=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
[ ${#X} -eq 32 ] || it_harness "no random id: '$X'"
s_id=$(printf squat | "$FERRY" send --id "$X" field/inbox 2>"$T/s.err") ||
	it_fail "root's send with --id: $(cat "$T/s.err")"
r_id=$(printf real | as_member "$FERRY" send --id "$X" field/inbox \
	2>"$T/r.err") || it_fail "the user's send with --id: $(cat "$T/r.err")"
grep -q "accepted before" "$T/r.err" &&
	it_fail "the user's message was taken for root's: $(cat "$T/r.err")"
[ "$r_id" != "$s_id" ] || it_fail "both sends got id $r_id"
expect_eq "field/inbox holds both messages" "$(queue_count inbox)" 2
again=$(printf real | as_member "$FERRY" send --id "$X" field/inbox \
	2>"$T/r2.err") || it_fail "the user's retry: $(cat "$T/r2.err")"
grep -q "accepted before" "$T/r2.err" ||
	it_fail "the user's retry was not a duplicate: '$(cat "$T/r2.err")'"
expect_eq "the retry names the first send's id" "$again" "$r_id"
again=$(printf squat | "$FERRY" send --id "$X" field/inbox 2>"$T/s2.err") ||
	it_fail "root's retry: $(cat "$T/s2.err")"
grep -q "accepted before" "$T/s2.err" ||
	it_fail "root's retry was not a duplicate: '$(cat "$T/s2.err")'"
expect_eq "root's retry names root's id" "$again" "$s_id"
expect_eq "still two messages after the retries" "$(queue_count inbox)" 2
# A user who learned the stored id cannot take it either.
printf squat2 | "$FERRY" send --id "$r_id" field/inbox >/dev/null \
	2>"$T/s3.err" || it_fail "root's send with the user's id: $(cat "$T/s3.err")"
grep -q "accepted before" "$T/s3.err" &&
	it_fail "root's --id of the user's stored id was a duplicate"
expect_eq "three messages" "$(queue_count inbox)" 3
got=$("$FERRY" recv inbox --count 0)
case $got in *real*) ;; *) it_fail "the user's payload is not in inbox: $got" ;; esac
it_ok "the user's message was delivered: $got"

# --- (b) over TCP: squatting the id of a message on its way
Y=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
i_id=$(printf from-field | as_member "$FERRY" send --id "$Y" base/inbox \
	2>"$T/f.err") || it_fail "the send to base: $(cat "$T/f.err")"
stop_node field
start_agent base
use_node base
printf squat | "$FERRY" send --id "$i_id" base/inbox >/dev/null 2>"$T/b.err" ||
	it_fail "the squat at base: $(cat "$T/b.err")"
start_agent field
wait_count base inbox 2 20 ||
	it_fail "the message from field was not delivered: base/inbox has $(use_node base; queue_count inbox)"
use_node base
expect_eq "status at base of the message from field" \
	"$("$FERRY" status "$i_id" --json | json_get status)" queued
got=$("$FERRY" recv inbox --count 0)
case $got in *from-field*) ;; *) it_fail "payload from field missing: $got" ;; esac
it_ok "the message from field arrived beside the squat: $got"
it_pass
