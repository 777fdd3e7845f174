#!/bin/sh
# Replay the sealed bundle fuzz corpus through the reader (any build).
exec "$top_builddir/tests/fuzz/replay_bundle" "$top_srcdir/tests/fuzz/corpus/bundle"
