#!/bin/sh
# Replay the sealed-payload fuzz corpus through the decryptor (any build).
exec "$top_builddir/tests/fuzz/replay_seal" "$top_srcdir/tests/fuzz/corpus/seal"
