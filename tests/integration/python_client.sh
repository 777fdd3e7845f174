#!/bin/sh
# python_client.sh - the pure-Python client (clients/python, issue 17)
# against a live ferryd: it compiles (py_compile), installs with
# `pip install --no-build-isolation` into a venv of Debian's python3, and
# the installed module passes clients/python/tests/test_live.py: a round
# trip with every field, payloads of every size and kind, priority order,
# ack / nack / lease / renew / peek / dead letter, the subscribe iterator
# (credit, a fetched large payload, give-back), request/reply with a
# responder thread (strays, timeout, a late reply in dead), the error
# classes (every FERRY_E* of lib/ferry_err.h), 100 MiB sent from a
# generator-backed file and received through msg.stream with the
# process's peak RSS under 64 MiB, and hostile frames from a fake agent.
# PYTHON picks the interpreter (default /usr/bin/python3, Debian's).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$top_srcdir/clients/python
[ -f "$src/ferry.py" ] || it_harness "no $src/ferry.py"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
	if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
fi
command -v "$PY" >/dev/null 2>&1 || it_skip "no $PY"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 7))' ||
	it_skip "$PY is older than 3.7"
it_note "$("$PY" --version 2>&1) at $(command -v "$PY")"
# Nothing written into the source tree (read-only under distcheck).
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
t0=$(it_now_ms)

# --- it compiles (the .pyc files go to $IT_TMP)
"$PY" - "$IT_TMP/pyc" "$src/ferry.py" "$src/tests/test_live.py" <<'EOF' ||
import os, py_compile, sys
for i, f in enumerate(sys.argv[2:]):
    py_compile.compile(f, cfile=os.path.join(sys.argv[1], "%d.pyc" % i),
                       doraise=True)
EOF
	it_fail "py_compile refused the client"
it_ok "py_compile: ferry.py and tests/test_live.py"

# --- pip install --no-build-isolation into a venv (from a copy: pip
# builds in the tree it is given)
cp -R "$src" "$IT_TMP/pysrc" || it_harness "cp $src"
chmod -R u+w "$IT_TMP/pysrc"
PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1
export PIP_CONFIG_FILE PIP_DISABLE_PIP_VERSION_CHECK PIP_NO_INDEX
# Debian's pip, setuptools and wheel come from the system site-packages
# (a venv of its own pip takes seconds longer to make).  An interpreter
# without them (PYTHON=...) tests the source tree instead.
if "$PY" -c 'import setuptools, wheel, pip, venv' >"$IT_TMP/venv.log" 2>&1 &&
	"$PY" -m venv --without-pip --system-site-packages "$IT_TMP/venv" \
		>>"$IT_TMP/venv.log" 2>&1; then
	"$IT_TMP/venv/bin/python" -m pip install --no-build-isolation \
		"$IT_TMP/pysrc" >"$IT_TMP/pip.log" 2>&1 ||
		it_fail "pip install --no-build-isolation failed (python3-pip, python3-setuptools and python3-wheel installed?): $(tail -n 15 "$IT_TMP/pip.log")"
	VPY=$IT_TMP/venv/bin/python
	where=$(cd "$IT_TMP" && "$VPY" -c 'import ferry; print(ferry.__file__)') ||
		it_fail "the installed module does not import"
	case $where in
	"$IT_TMP/venv/"*) ;;
	*) it_fail "import ferry found $where, not the installed copy" ;;
	esac
	it_ok "pip install --no-build-isolation into a venv: $where"
	PYTHONPATH=
else
	# No venv, pip, setuptools or wheel (python3-venv, python3-pip,
	# python3-setuptools, python3-wheel): test the source tree instead.
	it_note "install not checked: $(tail -n 1 "$IT_TMP/venv.log")"
	VPY=$PY
	PYTHONPATH=$src
fi
export PYTHONPATH
it_note "compile and install: $(($(it_now_ms) - t0)) ms"

# --- the live tests (a short sweep: lapsed leases come back promptly)
start_node alpha "[limits]" "sweep_interval = 250ms"
FERRY_TEST_NODE=alpha FERRY_TEST_SRCDIR=$top_srcdir
export FERRY_TEST_NODE FERRY_TEST_SRCDIR
t1=$(it_now_ms)
(cd "$IT_TMP" && timeout 300 "$VPY" "$src/tests/test_live.py" -v) \
	>"$IT_TMP/unittest.log" 2>&1
rc=$?
sed 's/^/# /' "$IT_TMP/unittest.log"
it_check_alive "the Python client's tests" alpha
[ $rc -eq 124 ] && it_fail "test_live.py hung (300 s)"
[ $rc -eq 0 ] || it_fail "test_live.py failed (exit $rc)"
grep -q '^OK' "$IT_TMP/unittest.log" || it_fail "test_live.py said no OK"
it_ok "test_live.py: $(grep '^Ran ' "$IT_TMP/unittest.log")"
it_note "live tests: $(($(it_now_ms) - t1)) ms"

stop_node alpha
it_pass
