#!/bin/sh
# diskfull_store.sh - run the full-disk fault test of the store
# (diskfull_store.c) on a tmpfs of its own.
#
# The program mounts the tmpfs on the directory made here, inside a private
# mount namespace, so the mount ends with the program however it ends; the
# trap still unmounts (should it be visible) and removes the directory.
# Needs root: otherwise it says SKIP and exits 77.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.

bin="${top_builddir:-.}/tests/fault/diskfull_store"
if [ ! -x "$bin" ]; then
	echo "diskfull_store.sh: $bin is not built" >&2
	exit 99
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: disk-full test needs root to mount a tmpfs"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-full.XXXXXX") || exit 99
cleanup() {
	if mountpoint -q "$tmp" 2>/dev/null; then
		umount "$tmp" || umount -l "$tmp"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

"$bin" "$tmp"
rc=$?
case $rc in
0 | 1 | 77 | 99) exit $rc ;;
esac
echo "FAIL: diskfull_store died (exit status $rc): a full disk crashed it"
exit 1
