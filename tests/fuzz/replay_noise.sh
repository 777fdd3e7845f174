#!/bin/sh
# Replay the Noise fuzz corpus through handshakes and transport (any build).
exec "$top_builddir/tests/fuzz/replay_noise" "$top_srcdir/tests/fuzz/corpus/noise"
