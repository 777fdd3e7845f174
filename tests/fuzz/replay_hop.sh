#!/bin/sh
# Replay the hop frame fuzz corpus through the record walker (any build).
exec "$top_builddir/tests/fuzz/replay_hop" "$top_srcdir/tests/fuzz/corpus/hop"
