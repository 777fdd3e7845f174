#!/bin/sh
# sneak_deputy.sh - ferry export / import never make ferryd work in a
# folder for a caller who could not (issue 12, item 5):
#  - the client opens the folder and passes the descriptor (SCM_RIGHTS);
#    a folder the caller cannot open is refused by the client itself
#    (exit 5), and ferryd refuses one the caller could open but not write
#    into (exit 5, "you may not write into"), writing nothing there;
#  - a folder the caller owns works as before (export, then import);
#  - a symbolic link planted at DIR/ferry or DIR/ferry/<fpr> is not
#    followed: import says so and imports nothing, export refuses too, and
#    nothing is written where the link points.
# Needs root (a temporary user, removed at exit) and setpriv(1).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
it_temp_user ferrydp
chmod 711 "$IT_TMP" || it_harness "chmod"
as_member sh -c 'cd "$1"' sh "$IT_TMP" 2>/dev/null ||
	it_skip "user $usr cannot reach $IT_TMP (a parent directory is closed)"
as_member "$FERRY" --help >/dev/null 2>&1 ||
	it_skip "user $usr cannot run $FERRY (the build directory is closed)"

make_node alpha "[node]" "socket_group = $grp" "socket_mode = 0660" \
	"[acl]" "allow = user:$usr admin *" "allow = user:$usr send *"
make_node beta
node_peer alpha beta
node_peer beta alpha
start_agent alpha
start_agent beta
sock=$(node_sock alpha)
m_ferry() { as_member env FERRY_SOCKET="$sock" "$FERRY" "$@"; }

use_node alpha
echo one | "$FERRY" send beta/q >/dev/null || it_fail send

# --- a folder the member cannot open
mkdir -m 700 "$T/closed" || it_harness mkdir
rc=0
m_ferry export "$T/closed" >"$T/o1" 2>&1 || rc=$?
expect_eq "closed folder: exit status" "$rc" 5
grep -q "cannot open $T/closed" "$T/o1" ||
	it_fail "closed folder: not said: $(cat "$T/o1")"
[ -z "$(ls -A "$T/closed")" ] || it_fail "ferryd wrote into a closed folder"
it_ok "a folder the caller cannot open is refused"

# --- a folder the member can open but not write into
mkdir -m 755 "$T/readonly" || it_harness mkdir
rc=0
m_ferry export "$T/readonly" >"$T/o2" 2>&1 || rc=$?
expect_eq "read-only folder: exit status" "$rc" 5
grep -q "you may not write into $T/readonly" "$T/o2" ||
	it_fail "read-only folder: not said: $(cat "$T/o2")"
[ -z "$(ls -A "$T/readonly")" ] ||
	it_fail "ferryd wrote into a folder its caller may not write: $(ls -A "$T/readonly")"
it_ok "a folder the caller cannot write is refused, nothing written"

# --- the member's own folder: export works
mkdir "$T/mine" && chown "$usr" "$T/mine" || it_harness "mkdir mine"
m_ferry export "$T/mine" >"$T/o3" 2>&1 || it_fail "export to mine: $(cat "$T/o3")"
n=$(find "$T/mine/ferry" -name '*.bundle' | wc -l)
[ "$n" -ge 1 ] || it_fail "no bundle in mine: $(cat "$T/o3")"
use_node beta
"$FERRY" import "$T/mine" >"$T/o4" 2>&1 || it_fail "import: $(cat "$T/o4")"
wait_count beta q 1 10 || it_fail "beta did not get the message: $(cat "$T/o4")"
it_ok "the caller's own folder works (export by the member, import)"

# --- symbolic links planted on the medium are not followed
fpr_b=$("$FERRY" info --json | json_get fingerprint)
mkdir -p "$T/elsewhere/$fpr_b" "$T/linked" || it_harness mkdir
ln -s "$T/elsewhere" "$T/linked/ferry" || it_harness ln
use_node alpha
echo two | "$FERRY" send beta/q >/dev/null || it_fail send
"$FERRY" export "$T/linked" >"$T/o5" 2>&1 && rc=0 || rc=$?
[ "$rc" -ne 0 ] || it_fail "export through a linked ferry/ succeeded: $(cat "$T/o5")"
[ -z "$(ls -A "$T/elsewhere/$fpr_b")" ] ||
	it_fail "export wrote through the link: $(ls -A "$T/elsewhere/$fpr_b")"
rm "$T/linked/ferry" && mkdir "$T/linked/ferry" || it_harness "ferry dir"
cp "$T"/mine/ferry/"$fpr_b"/*.bundle "$T/elsewhere/$fpr_b/" 2>/dev/null
ln -s "$T/elsewhere/$fpr_b" "$T/linked/ferry/$fpr_b" || it_harness ln
use_node beta
"$FERRY" import "$T/linked" >"$T/o6" 2>&1 || true
grep -q "not a real folder" "$T/o6" ||
	it_fail "import through a linked folder: not said: $(cat "$T/o6")"
it_ok "links at DIR/ferry and DIR/ferry/<fpr> are not followed"
it_pass
