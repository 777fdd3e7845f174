#!/bin/sh
# make smoke: a narrated run of the store in a temporary directory.
set -eu
builddir=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-smoke.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
"$builddir/tests/store_smoke" "$dir/store"
