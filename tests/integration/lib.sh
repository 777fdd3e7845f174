# lib.sh - shared helpers of ferryd's integration tests; sourced, not run.
#
#   . "$(dirname "$0")/lib.sh"
#
# Makes one private temporary directory ($IT_TMP, under ${TMPDIR:-/tmp})
# and removes it at exit, after killing every ferryd the test started
# (the EXIT trap).  Nodes live in $IT_TMP/NAME; each agent logs to
# $IT_TMP/NAME/log.  Binaries come from $top_builddir (set by `make
# check`; "." otherwise).
#
# Exit status of a test: 0 pass, 1 fail, 77 skip, 99 harness error.
# FERRY_TEST_LONG=1 asks for the long version ($IT_LONG is 1 then).
#
# Helpers:
#   start_node NAME [LINE...]  ferry init a node, append LINEs to its
#                              ferry.conf (sections may repeat), start
#                              its agent and wait until it answers;
#                              exports FERRY_SOCKET for the last started
#   start_agent NAME           (re)start the agent of an existing node
#   stop_node NAME [SECS]      SIGTERM; fails if it is not gone within
#                              SECS (default 10) or exits non-zero
#   kill9_node NAME            SIGKILL, reaped
#   it_check_alive WHAT NAME...  it_fail if the agent of a NAME died
#   it_wait_proxy PID FILE LOG wait for fault_proxy PID to write FILE
#   node_dir / node_conf / node_sock / node_log / node_pid NAME
#   it_fail MSG, it_skip MSG, it_harness MSG, it_pass
#   it_ok MSG                  "ok - MSG"
#   expect_eq WHAT GOT WANT    it_fail unless equal, else it_ok
#   json_get KEY               first "KEY":value of the JSON on stdin
#   queue_count QUEUE          messages in QUEUE (0 if it is not listed)
#   it_now_ms, it_rand N, it_alive PID, it_at_exit CMD
#   ferry_at NAME ARGS...      `ferry ARGS...` at node NAME
#   it_sockdir                 sockdir= a folder other users can reach
#   it_gen SEED SIZE           seeded pseudo-random bytes on stdout
#   it_bundle_seq FILE         a bundle file's sequence number (hex)

it_name=$(basename "$0" .sh)
top_builddir=${top_builddir:-.}
FERRYD=$top_builddir/agent/ferryd
FERRY=$top_builddir/cli/ferry
IT_BIN=$top_builddir/tests/integration
IT_LONG=0
case ${FERRY_TEST_LONG:-0} in
'' | 0 | no | false) ;;
*) IT_LONG=1 ;;
esac
IT_TMP=
IT_AT_EXIT=
export LC_ALL=C

# A long test calls this first: with FERRY_TEST_SKIP_HEAVY=1 (CI's
# distcheck, which has run it already) it is skipped, visibly.
it_heavy() {
	# FERRY_TEST_SKIP_HEAVY: 1 skips every long test; a list of names
	# ("agent_bigmsg link_faults") skips those only.
	case " ${FERRY_TEST_SKIP_HEAVY:-0} " in
	" " | " 0 " | " no " | " false ") ;;
	*" $it_name "* | " 1 " | " yes " | " true ")
		echo "SKIP: $it_name is a long test; FERRY_TEST_SKIP_HEAVY is set"
		exit 77
		;;
	esac
}

it_fail() {
	echo "FAIL: $it_name: $*"
	exit 1
}

it_skip() {
	echo "SKIP: $it_name: $*"
	exit 77
}

it_harness() {
	echo "ERROR: $it_name: harness: $*"
	exit 99
}

it_pass() {
	echo "PASS: $it_name"
	exit 0
}

it_ok() {
	echo "ok - $*"
}

it_note() {
	echo "# $*"
}

expect_eq() {
	[ "$2" = "$3" ] || it_fail "$1: got '$2', wanted '$3'"
	it_ok "$1"
}

# Run CMD at exit (before the directory is removed), last added first.
it_at_exit() {
	IT_AT_EXIT="$1
$IT_AT_EXIT"
}

it_now_ms() {
	date +%s%3N
}

# it_gen SEED SIZE: SIZE pseudo-random bytes from SEED on standard
# output, the same for the same SEED (so a test keeps a hash, not a copy).
it_gen() {
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[1]))
n = int(sys.argv[2])
o = sys.stdout.buffer
while n > 0:
    k = min(n, 1 << 20)
    o.write(r.randbytes(k))
    n -= k' "$1" "$2"
}

# it_textlog SEED SIZE: about SIZE bytes (whole lines, at most one line
# more) of a sensor log on standard output, CSV and JSON lines in turn,
# the same for the same SEED: text that compresses as field logs do (zstd
# -3 takes it to about a quarter), for the compression tests.
it_textlog() {
	awk -v seed="$1" -v bytes="$2" 'BEGIN {
	srand(seed); t = 1764924000000; v = 20.0; n = 0; i = 0
	split("ok ok ok ok ok warn ok ok error ok", st, " ")
	while (n < bytes) {
		t += 100 + int(rand() * 900); v += (rand() - 0.5) * 0.4
		s = sprintf("sensor-%03d", int(rand() * 64))
		w = st[1 + int(rand() * 10)]
		if (i % 2 == 0)
			l = sprintf("%d,%.3f,%s,%.3f,%.1f,%s\n", i, t / 1000, s,
			    v, 40 + rand() * 20, w)
		else
			l = sprintf("{\"seq\":%d,\"ts_ms\":%.0f,\"node\":\"%s\"," \
			    "\"temp_c\":%.3f,\"rh\":%.1f,\"status\":\"%s\"}\n",
			    i, t, s, v, 40 + rand() * 20, w)
		printf "%s", l; n += length(l); i++
	}
}'
}

# it_bundle_seq FILE: the sequence number of a bundle file (16 hex digits
# at offset 96 of its header, docs/formats.md 1.1): fixed width, so it
# sorts as text.
it_bundle_seq() {
	od -An -tx1 -j 96 -N 8 "$1" | tr -d ' \n'
}

# A random number in [0, N).
it_rand() {
	echo $(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1))
}

# Is PID a live process (not a zombie)?
it_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Is PID a ferryd (so that a recycled pid is never killed)?
it_is_ferryd() {
	it_alive "$1" && grep -q ferryd "/proc/$1/cmdline" 2>/dev/null
}

it_cleanup() {
	it_rc=$?
	trap - EXIT HUP INT TERM
	if [ -n "$IT_TMP" ] && [ -f "$IT_TMP/.pids" ]; then
		while read -r p; do
			if it_is_ferryd "$p"; then
				kill -9 "$p" 2>/dev/null
			fi
		done <"$IT_TMP/.pids"
	fi
	if [ -n "$IT_AT_EXIT" ]; then
		eval "$IT_AT_EXIT"
	fi
	if [ "$it_rc" -ne 0 ] && [ "$it_rc" -ne 77 ] && [ -n "$IT_TMP" ]; then
		for l in "$IT_TMP"/*/log; do
			[ -f "$l" ] || continue
			echo "--- last lines of $l"
			tail -n 25 "$l"
		done
	fi
	if [ -n "$IT_TMP" ] && [ -n "${FERRY_TEST_KEEP:-}" ]; then
		echo "FERRY_TEST_KEEP: the test's folder is kept: $IT_TMP"
	elif [ -n "$IT_TMP" ]; then
		rm -rf "$IT_TMP"
	fi
	exit "$it_rc"
}

trap it_cleanup EXIT
trap 'exit 99' HUP INT TERM

for b in "$FERRYD" "$FERRY"; do
	[ -x "$b" ] || it_harness "$b is not built (make, or set top_builddir)"
done
IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-it-$it_name.XXXXXX") ||
	it_harness "cannot make a temporary directory"
: >"$IT_TMP/.pids"

# The C helper NAME, built by `make check`.
it_helper() {
	[ -x "$IT_BIN/$1" ] || it_harness "$IT_BIN/$1 is not built (make check)"
	echo "$IT_BIN/$1"
}

node_dir() { echo "$IT_TMP/$1"; }
node_conf() { echo "$IT_TMP/$1/ferry.conf"; }
node_log() { echo "$IT_TMP/$1/log"; }
node_sock() { cat "$IT_TMP/$1/.socket"; }
node_pid() { cat "$IT_TMP/$1/.agent.pid" 2>/dev/null; }

# Make a node without starting it: NAME [LINE...].
make_node() {
	mn_name=$1
	shift
	mn_dir=$IT_TMP/$mn_name
	"$FERRY" init --dir "$mn_dir" --name "$mn_name" \
		>"$IT_TMP/.init-$mn_name.log" 2>&1 ||
		it_harness "ferry init of $mn_name failed: $(cat "$IT_TMP/.init-$mn_name.log")"
	mn_sock=$mn_dir/ferry.sock
	mn_own=
	for mn_line in "$@"; do
		case $mn_line in
		"socket "*=* | socket=*) mn_own=${mn_line#*=} ;;
		esac
	done
	if [ -n "$mn_own" ]; then
		mn_sock=$(echo $mn_own)
	elif [ ${#mn_sock} -gt 100 ]; then
		# Too long for a Unix socket address: a short directory.
		mn_s=$(mktemp -d /tmp/ferry-s.XXXXXX) || it_harness "mktemp"
		it_at_exit "rm -rf '$mn_s'"
		mn_sock=$mn_s/$mn_name.sock
		printf '[node]\nsocket = %s\n' "$mn_sock" >>"$mn_dir/ferry.conf"
	fi
	echo "$mn_sock" >"$mn_dir/.socket"
	for mn_line in "$@"; do
		printf '%s\n' "$mn_line" >>"$mn_dir/ferry.conf"
	done
}

# Wait until the agent of NAME (pid PID) answers `ferry info`; 10 s max.
wait_ready() {
	wr_sock=$(node_sock "$1")
	wr_i=0
	while [ $wr_i -lt 100 ]; do
		if ! it_alive "$2"; then
			return 1
		fi
		if "$FERRY" --socket "$wr_sock" info >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		wr_i=$((wr_i + 1))
	done
	return 1
}

start_agent() {
	sa_dir=$IT_TMP/$1
	"$FERRYD" -c "$sa_dir/ferry.conf" >>"$sa_dir/log" 2>&1 &
	sa_pid=$!
	echo "$sa_pid" >"$sa_dir/.agent.pid"
	echo "$sa_pid" >>"$IT_TMP/.pids"
	if ! wait_ready "$1" "$sa_pid"; then
		it_fail "the agent of $1 did not answer within 10 s: $(tail -n 5 "$sa_dir/log")"
	fi
	FERRY_SOCKET=$(node_sock "$1")
	export FERRY_SOCKET
}

start_node() {
	make_node "$@"
	start_agent "$1"
}

# Reap PID if it is our child; its exit status, or 255 if unknown.
it_reap() {
	wait "$1" 2>/dev/null
	it_reap_rc=$?
	[ $it_reap_rc -eq 127 ] && it_reap_rc=255
	return $it_reap_rc
}

# it_check_alive WHAT NAME...: every agent of the NAMEs still there?  A
# crash of ours is a finding: it_fail, naming WHAT, with its exit status.
it_check_alive() {
	ca_what=$1
	shift
	for ca_n in "$@"; do
		ca_p=$(node_pid "$ca_n")
		if ! it_alive "$ca_p"; then
			it_reap "$ca_p"
			ca_st=$?
			it_fail "$ca_what: the agent of $ca_n died on its own (exit status $ca_st; 128+N: signal N): $(tail -n 3 "$(node_log "$ca_n")")"
		fi
	done
}

# it_wait_proxy PID FILE LOG: wait (5 s) until the fault_proxy PID has
# written its port to FILE; a harness error, with LOG's end, if it died.
it_wait_proxy() {
	wp_i=0
	while [ ! -s "$2" ]; do
		it_alive "$1" || it_harness "fault_proxy: $(tail -n 3 "$3")"
		wp_i=$((wp_i + 1))
		[ $wp_i -gt 100 ] && it_harness "fault_proxy did not start"
		sleep 0.05
	done
}

# SIGTERM the agent of NAME, wait SECS (10) for it to go, check it exited
# with 0.  Sets STOP_MS to how long it took.
stop_node() {
	sn_pid=$(node_pid "$1")
	sn_secs=${2:-10}
	[ -n "$sn_pid" ] || it_harness "stop_node $1: no agent"
	sn_t0=$(it_now_ms)
	kill -TERM "$sn_pid" 2>/dev/null
	while it_alive "$sn_pid"; do
		if [ $(($(it_now_ms) - sn_t0)) -gt $((sn_secs * 1000)) ]; then
			it_fail "the agent of $1 is still running $sn_secs s after SIGTERM"
		fi
		sleep 0.05
	done
	STOP_MS=$(($(it_now_ms) - sn_t0))
	it_reap "$sn_pid"
	sn_rc=$?
	rm -f "$IT_TMP/$1/.agent.pid"
	if [ $sn_rc -ne 0 ] && [ $sn_rc -ne 255 ]; then
		it_fail "the agent of $1 exited with status $sn_rc after SIGTERM"
	fi
}

kill9_node() {
	k9_pid=$(node_pid "$1")
	[ -n "$k9_pid" ] || it_harness "kill9_node $1: no agent"
	kill -9 "$k9_pid" 2>/dev/null
	it_reap "$k9_pid"
	while it_alive "$k9_pid"; do sleep 0.05; done
	rm -f "$IT_TMP/$1/.agent.pid"
}

# The first "KEY":value on stdin (strings unquoted; values hold no commas).
json_get() {
	tr ',{}[' '\n\n\n\n' | sed -n "s/^\"$1\":\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" |
		head -n 1
}

# Messages in a local queue, from `ferry queues --json`; 0 if absent.
queue_count() {
	qc=$("$FERRY" queues --json | tr '{' '\n' |
		grep "\"queue\":\"$1\"[,}]" | json_get messages)
	echo "${qc:-0}"
}

# --- two or more nodes over TCP (loopback only)

# The public card of NAME (made by make_node).
node_card() {
	"$FERRY" keygen --dir "$IT_TMP/$1" --json | json_get card
}

# A TCP port on 127.0.0.1 that was free a moment ago.
# A free loopback port, below the kernel's ephemeral range, and none this
# test was given before: see tests/interop/free_port.py.
it_free_port() {
	python3 "$(dirname "$0")/../interop/free_port.py" "$IT_TMP/.ports"
}

# node_listen NAME PORT: NAME accepts peers on 127.0.0.1:PORT.
node_listen() {
	printf '[node]\nlisten = 127.0.0.1:%s\n' "$2" >>"$IT_TMP/$1/ferry.conf"
	echo "$2" >"$IT_TMP/$1/.port"
}
node_port() { cat "$IT_TMP/$1/.port"; }

# node_peer NAME PEER [LINE...]: NAME knows PEER by its card and dials
# its port (if PEER listens); extra lines go into the [peer] section.
node_peer() {
	np_name=$1
	np_peer=$2
	shift 2
	{
		printf '[peer %s]\nkey = %s\n' "$np_peer" "$(node_card "$np_peer")"
		if [ -f "$IT_TMP/$np_peer/.port" ]; then
			printf 'tcp = 127.0.0.1:%s\n' "$(node_port "$np_peer")"
		fi
		printf 'retry_min = 200ms\nretry_max = 2s\n'
		for np_line in "$@"; do
			printf '%s\n' "$np_line"
		done
	} >>"$IT_TMP/$np_name/ferry.conf"
}

# it_sockdir: set sockdir to a folder other users can reach (for the
# sockets of tests that run clients as other users): $IT_TMP/sock, with
# $IT_TMP opened to them, or a shorter one if that path is too long for a
# socket's name (removed at exit).
it_sockdir() {
	chmod 711 "$IT_TMP"
	sockdir=$IT_TMP/sock
	mkdir -m 711 "$sockdir" || it_harness "mkdir $sockdir"
	if [ ${#sockdir} -gt 90 ]; then
		sockdir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-s.XXXXXX") ||
			it_harness "mktemp"
		it_at_exit "rm -rf '$sockdir'"
		chmod 711 "$sockdir"
	fi
}

# ferry_at NAME ARGS...: `ferry ARGS...` at node NAME, whatever node
# the following commands use.
ferry_at() {
	fa_node=$1
	shift
	FERRY_SOCKET=$(node_sock "$fa_node") "$FERRY" "$@"
}

# node_info NODE KEY: the value of KEY in NODE's `ferry info --json`.
node_info() { ferry_at "$1" info --json | json_get "$2"; }

# wait_outbound NODE N SECS: until NODE holds N outbound messages (1 if
# it does not within SECS).
wait_outbound() {
	wo_i=0
	while [ "$(node_info "$1" outbound_messages)" != "$2" ]; do
		wo_i=$((wo_i + 1))
		[ $wo_i -lt $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}

# Use NAME's socket for the following ferry commands.
use_node() {
	FERRY_SOCKET=$(node_sock "$1")
	export FERRY_SOCKET
}

# wait_until SECS WHAT CMD [ARG...]: run CMD every 0.1 s until it
# succeeds; after SECS seconds the test fails: "WHAT (after SECS s)".
# CMD is run again each time, so a condition on a command's output is a
# function (connected() { [ "$(...)" = true; }; wait_until 10 "..."
# connected).
wait_until() {
	wu_max=$(($1 * 10))
	wu_what=$2
	shift 2
	wu_i=0
	until "$@"; do
		[ $wu_i -lt $wu_max ] || it_fail "$wu_what (after $((wu_max / 10)) s)"
		sleep 0.1
		wu_i=$((wu_i + 1))
	done
}

# wait_count NAME QUEUE N [SECS]: until NAME's QUEUE holds N messages.
wait_count() {
	wc_i=0
	wc_max=$((${4:-30} * 10))
	while [ $wc_i -lt $wc_max ]; do
		[ "$(FERRY_SOCKET=$(node_sock "$1") queue_count "$2")" = "$3" ] && return 0
		sleep 0.1
		wc_i=$((wc_i + 1))
	done
	return 1
}

# it_temp_user PREFIX: a temporary group $grp and a user $usr in it, both
# removed at exit; as_member CMD... runs CMD as $usr with its groups.
# Skips the test unless it runs as root with setpriv, useradd and groupadd.
it_temp_user() {
	[ "$(id -u)" -eq 0 ] || it_skip "needs root (a temporary user and group)"
	for t in setpriv useradd userdel groupadd groupdel; do
		command -v $t >/dev/null 2>&1 || it_skip "needs $t"
	done
	grp=$1-g$$
	usr=$1-u$$
	groupadd --system "$grp" 2>"$IT_TMP/groupadd.err" ||
		it_skip "cannot add a group: $(cat "$IT_TMP/groupadd.err")"
	it_at_exit "groupdel '$grp' 2>/dev/null"
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		-G "$grp" "$usr" 2>"$IT_TMP/useradd.err" ||
		it_skip "cannot add a user: $(cat "$IT_TMP/useradd.err")"
	it_at_exit "userdel '$usr' 2>/dev/null; groupdel '$usr' 2>/dev/null"
}
as_member() {
	setpriv --reuid="$usr" --regid="$usr" --init-groups "$@"
}
as_outsider() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
