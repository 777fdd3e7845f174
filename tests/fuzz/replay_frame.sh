#!/bin/sh
# Replay the frame fuzz corpus through the decoder (any build).
exec "$top_builddir/tests/fuzz/replay_frame" "$top_srcdir/tests/fuzz/corpus/frame"
