#!/bin/sh
# agent_acl.sh - who may talk to ferryd, and what they may do.
#  (a) socket_group + socket_mode 0660: a user outside the group cannot
#      connect (`ferry info` exits 4 or 5 and says why); a member can;
#  (b) [acl]: a user allowed to send to one queue only is refused other
#      sends and every recv with exit status 5 and a message naming the
#      ACL; root still may; node information (`info`, `peers`) and the
#      status of a message in a queue the user has no right to are
#      refused too, the status of a message it may send is not; group
#      rules match the groups the caller's process holds (SO_PEERGROUPS),
#      not what /etc/group says;
#  (c) SIGHUP with a changed [acl] takes effect; SIGHUP with a broken
#      ferry.conf keeps the configuration in use, and the log says so;
#  (d) every request type of the protocol, sent by the member
#      (acl_walk.c), is answered as [acl] allows or refused with EPERM,
#      and ferryd serves no request type that acl_walk has no case for.
# Needs root (it makes a temporary user and group, removed at exit) and
# setpriv(1); skipped otherwise.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
it_temp_user ferryit
it_note "temporary user $usr in group $grp"
# A second group the user is NOT in according to /etc/group: only a
# process given it (setpriv --groups) has it.
grp2=ferryit-h$$
groupadd --system "$grp2" 2>"$T/groupadd.err" ||
	it_skip "cannot add a group: $(cat "$T/groupadd.err")"
it_at_exit "groupdel '$grp2' 2>/dev/null"

alive_after() {
	if ! it_alive "$(node_pid alpha)"; then
		it_reap "$(node_pid alpha)"
		it_fail "ferryd died on $1 (exit status $?)"
	fi
}

# The socket lives where other users can reach it.
it_sockdir
as_outsider sh -c 'cd "$1"' sh "$sockdir" 2>/dev/null ||
	it_skip "user nobody cannot reach $sockdir (a parent directory is closed)"
as_member "$FERRY" --help >/dev/null 2>&1 ||
	it_skip "user $usr cannot run $FERRY (the build directory is closed)"

make_node alpha "[node]" "socket = $sockdir/alpha.sock" \
	"socket_group = $grp" "socket_mode = 0660"
conf=$(node_conf alpha)
log=$(node_log alpha)
cp "$conf" "$conf.base"
# ACL version 1: the member may send to alpha/inbox and nothing else.
{
	cat "$conf.base"
	echo "[acl]"
	echo "allow = user:$usr send alpha/inbox"
	echo "allow = group:$grp2 send alpha/g2"
} >"$conf"
start_agent alpha
sock=$FERRY_SOCKET

# --- (a) the socket's group and mode
expect_eq "socket mode and group" "$(stat -c '%a %G' "$sock")" "660 $grp"
as_outsider "$FERRY" info >/dev/null 2>"$T/out.err"
rc=$?
[ $rc -eq 4 ] || [ $rc -eq 5 ] ||
	it_fail "ferry info by a user outside $grp exited $rc, not 4 or 5"
grep -qi "permission denied\|cannot connect" "$T/out.err" ||
	it_fail "no clear message for the refused user: '$(cat "$T/out.err")'"
it_ok "a user outside $grp cannot connect (exit $rc): $(head -n 1 "$T/out.err")"
as_member "$FERRY" queues >/dev/null 2>"$T/m.err" ||
	it_fail "a member of $grp cannot connect: $(cat "$T/m.err")"
it_ok "a member of $grp can connect"

# --- (b) [acl] rules
id=$(printf from-member | as_member "$FERRY" send alpha/inbox 2>"$T/m.err") ||
	it_fail "the member cannot send to alpha/inbox: $(cat "$T/m.err")"
it_ok "the member may send to alpha/inbox"
printf x | as_member "$FERRY" send alpha/other >/dev/null 2>"$T/m.err"
rc=$?
alive_after "a refused send"
expect_eq "the member sending to alpha/other: exit" $rc 5
as_member "$FERRY" recv inbox >/dev/null 2>"$T/m.err"
rc=$?
alive_after "a refused recv"
expect_eq "the member receiving from inbox: exit" $rc 5
grep -qi "acl" "$T/m.err" ||
	it_fail "the refusal does not name the ACL: '$(cat "$T/m.err")'"
it_ok "the refusal names the ACL: $(head -n 1 "$T/m.err")"
grep -q "refused recv of inbox for uid $(id -u "$usr")" "$log" ||
	it_fail "the log does not record the refusal"
it_ok "the log records the refusal"
expect_eq "the member's message is still in inbox" "$(queue_count inbox)" 1
expect_eq "status by root" \
	"$("$FERRY" status "$id" --json | json_get status)" queued

# --- (b2) every request goes through the ACL: node information and the
# status of other users' messages are admin (ferry.conf(5))
as_member "$FERRY" info >/dev/null 2>"$T/m.err"
expect_eq "ferry info by the member (no admin): exit" $? 5
as_member "$FERRY" peers >/dev/null 2>"$T/m.err"
expect_eq "ferry peers by the member (no admin): exit" $? 5
grep -qi "acl" "$T/m.err" ||
	it_fail "the refusal of peers does not name the ACL: '$(cat "$T/m.err")'"
expect_eq "the member's status of its own message (it may send there)" \
	"$(as_member "$FERRY" status "$id" --json 2>"$T/m.err" | json_get status)" queued
id_o=$(printf root-only | "$FERRY" send alpha/other) || it_fail "root: send"
as_member "$FERRY" status "$id_o" >/dev/null 2>"$T/m.err"
expect_eq "the member's status of a message in alpha/other: exit" $? 5
"$FERRY" info >/dev/null || it_fail "root's ferry info refused"
it_ok "root still has info and status"

# --- (b3) groups come from the caller's credentials (SO_PEERGROUPS), not
# from the group database: a process of the user that holds grp2 may use
# the grp2 rule, one that does not may not
printf g2 | setpriv --reuid="$usr" --regid="$usr" --groups="$grp,$grp2" \
	"$FERRY" send alpha/g2 >/dev/null 2>"$T/m.err" ||
	it_fail "a process holding $grp2 was refused its rule: $(cat "$T/m.err")"
it_ok "a process holding $grp2 (not in /etc/group) may send to alpha/g2"
printf g2 | setpriv --reuid="$usr" --regid="$usr" --groups="$grp" \
	"$FERRY" send alpha/g2 >/dev/null 2>"$T/m.err"
expect_eq "a process without $grp2 sending to alpha/g2: exit" $? 5

# --- (c) SIGHUP reloads [acl]
hup() { # wait for the log line that says the SIGHUP was handled
	n0=$(grep -c "SIGHUP" "$log")
	kill -HUP "$(node_pid alpha)"
	i=0
	while [ "$(grep -c "SIGHUP" "$log")" -eq "$n0" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || it_fail "no SIGHUP line in the log after 10 s"
		sleep 0.1
	done
}
# ACL version 2: the member may also receive from inbox.
{
	cat "$conf.base"
	echo "[acl]"
	echo "allow = user:$usr send alpha/inbox"
	echo "allow = user:$usr recv inbox"
} >"$conf"
hup
grep -q "SIGHUP: configuration reloaded" "$log" ||
	it_fail "the log does not say the configuration was reloaded: $(tail -n 2 "$log")"
got=$(as_member "$FERRY" recv inbox 2>"$T/m.err") ||
	it_fail "after SIGHUP the member still cannot receive: $(cat "$T/m.err")"
expect_eq "after SIGHUP the member receives" "$got" from-member
printf x | as_member "$FERRY" send alpha/other >/dev/null 2>&1
expect_eq "sending to alpha/other is still refused: exit" $? 5

# A broken ferry.conf: the reload is refused, version 2 stays.
{
	cat "$conf.base"
	echo "[acl]"
	echo "allow = user:$usr send alpha/inbox"
	echo "this line is not INI"
} >"$conf"
hup
grep -q "keeping the configuration in use" "$log" ||
	it_fail "the log does not say the broken file was refused: $(tail -n 2 "$log")"
it_ok "the log says the broken file was refused: $(grep "keeping the configuration" "$log" | tail -n 1 | cut -c 26-)"
alive_after "SIGHUP with a broken ferry.conf"
printf again | as_member "$FERRY" send alpha/inbox >/dev/null 2>"$T/m.err" ||
	it_fail "after a refused reload the member cannot send: $(cat "$T/m.err")"
got=$(as_member "$FERRY" recv inbox 2>"$T/m.err") ||
	it_fail "after a refused reload the member lost recv: $(cat "$T/m.err")"
expect_eq "the rules in use are still version 2" "$got" again

# --- (d) every request type, as the member with version 1 again (send to
# alpha/inbox only): each is answered as the ACL allows or refused EPERM,
# and a type ferryd serves without a case in acl_walk.c fails
{
	cat "$conf.base"
	echo "[acl]"
	echo "allow = user:$usr send alpha/inbox"
} >"$conf"
hup
id_w=$(printf walk | as_member "$FERRY" send alpha/inbox 2>"$T/m.err") ||
	it_fail "the member cannot send to alpha/inbox: $(cat "$T/m.err")"
WALK=$(it_helper acl_walk) || exit 99
as_member timeout 300 "$WALK" "$sock" alpha "$id_w" "$id_o" >"$T/walk.out"
rc=$?
sed 's/^/    /' "$T/walk.out"
alive_after "the walk of every request type"
[ $rc -eq 99 ] && it_harness "acl_walk broke"
[ $rc -eq 124 ] && it_fail "acl_walk hung"
[ $rc -eq 0 ] || it_fail "some request types were not answered as [acl] says"
it_ok "every request type is answered as [acl] allows, or refused"

stop_node alpha
it_pass
