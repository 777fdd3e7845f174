#!/bin/sh
# agent_sockgroup.sh - the README's setup for a second user: the control
# socket in its default place (inside the state directory, which is 0700)
# with socket_group and socket_mode 0660.
#  - a member of the group sends and receives through it;
#  - a user outside the group is refused with a message naming the
#    socket (exit 5, as for a refusal);
#  - the state directory opens only its search bit to the group: the
#    member cannot list it, nor read the store, the identity or the local
#    copies of imported bundles (bundles/, 0700);
#  - before this fix ferryd left the state directory 0700, so the member
#    could not connect at all ("permission denied"), whatever socket_mode.
# Needs root (a temporary user and group, removed at exit) and setpriv(1);
# skipped otherwise.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
it_temp_user ferrysg


# The test folder itself must be reachable (not listable) by others.
chmod 711 "$IT_TMP" || it_harness "chmod $IT_TMP"
as_outsider sh -c 'cd "$1"' sh "$IT_TMP" 2>/dev/null ||
	it_skip "user nobody cannot reach $IT_TMP (a parent directory is closed)"
as_member "$FERRY" --help >/dev/null 2>&1 ||
	it_skip "user $usr cannot run $FERRY (the build directory is closed)"

make_node alpha "[node]" "socket_group = $grp" "socket_mode = 0660"
dir=$(node_dir alpha)
sock=$dir/ferry.sock
start_agent alpha
expect_eq "socket in the state directory" "$(node_sock alpha)" "$sock"

# --- the member: send and receive through the group
id=$(echo hello | as_member env FERRY_SOCKET="$sock" "$FERRY" send alpha/q \
	2>"$T/member.err") ||
	it_fail "the member cannot send: $(cat "$T/member.err")"
it_ok "member sent $id"
got=$(as_member env FERRY_SOCKET="$sock" "$FERRY" recv q 2>"$T/member.err") ||
	it_fail "the member cannot receive: $(cat "$T/member.err")"
expect_eq "member received" "$got" hello

# --- the outsider: refused, told which socket
rc=0
as_outsider env FERRY_SOCKET="$sock" "$FERRY" info >/dev/null 2>"$T/out.err" ||
	rc=$?
expect_eq "outsider exit status" "$rc" 5
grep -q "permission denied on ferryd's socket $sock" "$T/out.err" ||
	it_fail "the outsider's message does not name the socket: $(cat "$T/out.err")"
it_ok "outsider refused: $(head -n 1 "$T/out.err")"

# --- what the group may see of the state directory: nothing but the way
mode=$(stat -c %a "$dir")
expect_eq "state directory mode" "$mode" 710
expect_eq "state directory group" "$(stat -c %G "$dir")" "$grp"
if as_member ls "$dir" >/dev/null 2>&1; then
	it_fail "the member can list the state directory"
fi
# an import makes bundles/ (the local copies of bundles, in clear)
mkdir -p "$T/stick" || it_harness "mkdir stick"
"$FERRY" import "$T/stick" >"$T/imp" 2>&1 || true
[ -d "$dir/bundles" ] || it_fail "no bundles folder after an import: $(cat "$T/imp")"
for p in store identity bundles; do
	[ -e "$dir/$p" ] || continue
	m=$(stat -c %a "$dir/$p")
	case $m in
	700) ;;
	*) it_fail "$p is mode $m: the group could reach into it" ;;
	esac
	if as_member ls "$dir/$p" >/dev/null 2>&1; then
		it_fail "the member can list $p"
	fi
done
it_ok "store, identity and bundles stay the agent's own"
it_pass
