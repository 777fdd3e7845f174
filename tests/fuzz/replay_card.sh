#!/bin/sh
# Replay the card fuzz corpus through the parser (any build).
exec "$top_builddir/tests/fuzz/replay_card" "$top_srcdir/tests/fuzz/corpus/card"
