# Live interop of ferryd's TCP sessions (transports/tcp_link.c, transports/tcp_session.c) with
# a Python peer built on Debian's python3-dissononce, not on ferry's C code
# (skips without it).  hopwire.py is the wire in Python, from the documents;
# scripts/gen-link-corpus uses it too.  Needs agent/ferryd and cli/ferry.
TESTS += tests/interop/link_interop.py
EXTRA_DIST += tests/interop/link_interop.py tests/interop/hopwire.py
