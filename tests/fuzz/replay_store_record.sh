#!/bin/sh
# Replay the store_record fuzz corpus through the decoder (any build).
exec "$top_builddir/tests/fuzz/replay_store_record" "$top_srcdir/tests/fuzz/corpus/store_record"
