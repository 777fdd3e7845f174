#!/bin/sh
# Replay the HTTP parsers' fuzz corpus (tests/fuzz/fuzz_http.c; any build).
exec "$top_builddir/tests/fuzz/replay_http" "$top_srcdir/tests/fuzz/corpus/http"
