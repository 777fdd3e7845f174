#!/bin/sh
# Regenerate the build system: ./autogen.sh && ./configure && make check
set -e
cd "$(dirname "$0")"
autoreconf --install --force
