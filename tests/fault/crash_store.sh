#!/bin/sh
# crash_store.sh - run the kill -9 fault test of the store (crash_store.c).
#
# The program makes and removes its own store directory under $TMPDIR; this
# wrapper points $TMPDIR at a directory of its own, so that nothing is left
# behind even if the program dies, and turns a crash into a plain failure.
# FERRY_TEST_LONG=1 runs 500 cycles; FERRY_TEST_SEED=N repeats a run.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.

# FERRY_TEST_SKIP_HEAVY: 1 skips every long test, a list names them.
case " ${FERRY_TEST_SKIP_HEAVY:-0} " in
" " | " 0 " | " no " | " false ") ;;
*" crash_store "* | " 1 " | " yes " | " true ")
	echo "SKIP: crash_store is a long test; FERRY_TEST_SKIP_HEAVY is set"
	exit 77
	;;
esac
bin="${top_builddir:-.}/tests/fault/crash_store"
if [ ! -x "$bin" ]; then
	echo "crash_store.sh: $bin is not built" >&2
	exit 99
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-crash-sh.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

TMPDIR="$tmp" "$bin"
rc=$?
case $rc in
0 | 1 | 77 | 99) exit $rc ;;
esac
echo "FAIL: crash_store died (exit status $rc)"
exit 1
