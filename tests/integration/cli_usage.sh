#!/bin/sh
# cli_usage.sh - the `ferry` command without an agent: every verb's --help,
# usage errors (exit 2), the "cannot connect" message (exit 4), and
# `ferry init` / `ferry keygen` in a temporary state directory.
#
# Needs no ferryd: FERRY_SOCKET points at a path where nothing listens,
# and HOME and XDG_STATE_HOME at the temporary directory, so that nothing
# outside it is read or written.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.

ferry="${top_builddir:-.}/cli/ferry"
if [ ! -x "$ferry" ]; then
	echo "cli_usage.sh: $ferry is not built" >&2
	exit 99
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-cli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

mkdir "$tmp/home" || exit 99
HOME="$tmp/home"
XDG_STATE_HOME="$tmp/xdg"
FERRY_SOCKET="$tmp/nobody/ferry.sock"
export HOME XDG_STATE_HOME FERRY_SOCKET

id=00112233445566778899aabbccddeeff
fails=0
checks=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# run CMD...: rc, and stdout/stderr in $tmp/out and $tmp/err.
run() {
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	checks=$((checks + 1))
}

# expect WANTED_RC CMD...
expect() {
	want=$1
	shift
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		fail "$*: exit $rc, wanted $want: $(head -c 400 "$tmp/err")"
		return 1
	fi
	return 0
}

# has FILE TEXT WHAT: FILE contains the fixed string TEXT.
has() {
	grep -q -F -e "$2" "$1" || fail "$3 does not say '$2'"
}

# ------------------------------------------------------------- help
# help VERB OPTION...: --help exits 0 on stdout and names every option.
help() {
	verb=$1
	shift
	expect 0 "$ferry" "$verb" --help || return
	has "$tmp/out" "usage: ferry $verb" "ferry $verb --help"
	for opt in "$@"; do
		has "$tmp/out" "$opt" "ferry $verb --help"
	done
	expect 0 "$ferry" help "$verb" &&
		has "$tmp/out" "usage: ferry $verb" "ferry help $verb"
}

help send --priority --urgent --ttl --receipt --transient --reply-to \
	--correlation --id --json --socket
help recv --wait --count --peek --out --json --lease --no-ack --socket
help ack --token --socket
help nack --token --socket
help consume --parallel --max-deliveries --retry-delay --lease --grace \
	--socket FERRY_ID FERRY_DELIVERIES
help queues create purge --max-bytes --max-messages --json --socket
help status --json --socket
help info --json --socket
help init --name --dir --force-config
help keygen --dir --json
help help

if expect 0 "$ferry" --help; then
	for verb in send recv ack nack consume queues status info init keygen; do
		has "$tmp/out" "  $verb " "ferry --help"
	done
fi
expect 0 "$ferry" --version && has "$tmp/out" "ferry " "ferry --version"

# ------------------------------------------------------- usage errors
expect 2 "$ferry"
expect 2 "$ferry" frobnicate
expect 2 "$ferry" --frobnicate info
expect 2 "$ferry" help frobnicate
expect 2 "$ferry" send
expect 2 "$ferry" send nodeonly
expect 2 "$ferry" send Bad/q
expect 2 "$ferry" send a/b f1 f2
expect 2 "$ferry" send a/b --priority 9
expect 2 "$ferry" send a/b --priority 2 --urgent
expect 2 "$ferry" send a/b --ttl soon
expect 2 "$ferry" send a/b --id 1234
expect 2 "$ferry" send a/b --reply-to ../x
expect 2 "$ferry" send a/b --bogus
expect 2 "$ferry" recv
expect 2 "$ferry" recv q extra
expect 2 "$ferry" recv q --count many
expect 2 "$ferry" recv q --wait=later
expect 2 "$ferry" recv q --lease 0
expect 2 "$ferry" recv q --peek --no-ack
expect 2 "$ferry" recv q --bogus &&
	has "$tmp/err" "unknown option '--bogus'" "recv --bogus" &&
	has "$tmp/err" "usage: ferry recv" "recv --bogus"
expect 2 "$ferry" recv q --out && has "$tmp/err" "needs a value" "--out"
expect 2 "$ferry" ack
expect 2 "$ferry" ack not-an-id
expect 2 "$ferry" ack "$id" --token x
expect 2 "$ferry" nack "$id"
expect 2 "$ferry" consume
expect 2 "$ferry" consume q
expect 2 "$ferry" consume q --
expect 2 "$ferry" consume q cmd
expect 2 "$ferry" consume ../q -- true
expect 2 "$ferry" consume q --parallel 0 -- true
expect 2 "$ferry" consume q --parallel 31 -- true
expect 2 "$ferry" consume q --max-deliveries 0 -- true
expect 2 "$ferry" consume q --lease 0 -- true
expect 2 "$ferry" consume q --retry-delay soon -- true
expect 2 "$ferry" consume q --bogus -- true
expect 2 "$ferry" status not-an-id
expect 2 "$ferry" status "$id" "$id"
expect 2 "$ferry" queues frob
expect 2 "$ferry" queues create
expect 2 "$ferry" queues purge
expect 2 "$ferry" queues --max-bytes 1M
expect 2 "$ferry" queues create q --max-bytes lots
expect 2 "$ferry" info extra
expect 2 "$ferry" init --name "Bad Name" --dir "$tmp/never"
expect 2 "$ferry" init extra
expect 2 "$ferry" keygen extra
[ -e "$tmp/never" ] && fail "init with a bad name created its directory"

# ----------------------------------------------------- cannot connect
if expect 4 "$ferry" recv q; then
	has "$tmp/err" "cannot connect to ferryd at $FERRY_SOCKET" "recv"
	has "$tmp/err" "is it running?" "recv"
	has "$tmp/err" "ferryd -c " "recv"
fi
expect 4 "$ferry" --socket "$tmp/other.sock" info &&
	has "$tmp/err" "at $tmp/other.sock:" "--socket"
expect 4 "$ferry" info --socket "$tmp/other.sock" &&
	has "$tmp/err" "at $tmp/other.sock:" "info --socket"
expect 4 "$ferry" send a/b
expect 4 "$ferry" ack "$id"
expect 4 "$ferry" nack "$id" --token 7
expect 4 "$ferry" consume q -- true
expect 4 "$ferry" queues
expect 4 "$ferry" queues create q --max-bytes 1M --max-messages 10
expect 4 "$ferry" status
expect 4 "$ferry" status "$id"

# ----------------------------------------------------------- init
node="$tmp/node"
if expect 0 "$ferry" init --dir "$node" --name t1; then
	cp "$tmp/out" "$tmp/init1"
	[ -f "$node/ferry.conf" ] || fail "init made no $node/ferry.conf"
	grep -q "t1" "$node/ferry.conf" || fail "ferry.conf does not name t1"
	[ "$(stat -c %a "$node/identity/secret")" = 600 ] ||
		fail "identity/secret is not mode 0600"
	[ "$(stat -c %a "$node")" = 700 ] || fail "$node is not mode 0700"
	grep -q '^card  *ferry1[a-z2-7]\{111\}$' "$tmp/out" ||
		fail "init printed no card starting ferry1: $(cat "$tmp/out")"
	grep -q '^fingerprint  *[a-z2-7]\{4\}-[a-z2-7]\{4\}-' "$tmp/out" ||
		fail "init printed no fingerprint"
	has "$tmp/out" "ferryd -c $node/ferry.conf" "init"
	cp "$node/ferry.conf" "$tmp/conf1"
	cp "$node/identity/secret" "$tmp/secret1"

	# Again, with another name: nothing is replaced.
	if expect 0 "$ferry" init --dir "$node" --name t2; then
		cmp -s "$node/ferry.conf" "$tmp/conf1" ||
			fail "a second init rewrote ferry.conf"
		cmp -s "$node/identity/secret" "$tmp/secret1" ||
			fail "a second init replaced the identity"
		has "$tmp/out" "kept" "the second init"
		[ "$(grep '^card' "$tmp/out")" = "$(grep '^card' "$tmp/init1")" ] ||
			fail "the second init shows another card"
	fi

	# keygen sees the same identity.
	if expect 0 "$ferry" keygen --dir "$node" --json; then
		has "$tmp/out" '"created":false' "keygen --json"
		card=$(sed -n 's/^card  *//p' "$tmp/init1")
		has "$tmp/out" "\"card\":\"$card\"" "keygen --json"
	fi

	# --force-config replaces the config and keeps the old one.
	if expect 0 "$ferry" init --dir "$node" --name t2 --force-config; then
		cmp -s "$node/ferry.conf.bak" "$tmp/conf1" ||
			fail "--force-config kept no ferry.conf.bak"
		grep -q "t2" "$node/ferry.conf" ||
			fail "--force-config did not write node t2"
		cmp -s "$node/identity/secret" "$tmp/secret1" ||
			fail "--force-config replaced the identity"
	fi
fi

# The default directory: $XDG_STATE_HOME/ferry.
expect 0 "$ferry" init --name t3 &&
	[ ! -f "$XDG_STATE_HOME/ferry/ferry.conf" ] &&
	fail "init without --dir did not use \$XDG_STATE_HOME/ferry"

# keygen makes a missing identity once.
if expect 0 "$ferry" keygen --dir "$tmp/k"; then
	has "$tmp/out" "created identity" "keygen"
	grep -q '^card  *ferry1' "$tmp/out" || fail "keygen printed no card"
fi
expect 0 "$ferry" keygen --dir "$tmp/k" && has "$tmp/out" "exists" "keygen"

echo "cli_usage.sh: $checks runs, $fails failures"
[ "$fails" -eq 0 ] || exit 1
exit 0
