#!/bin/sh
# Replay the listener fuzz corpus (preamble, handshake, records; any build).
exec "$top_builddir/tests/fuzz/replay_link" "$top_srcdir/tests/fuzz/corpus/link"
