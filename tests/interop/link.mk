# Live interop of ferryd's TCP sessions (transports/tcp_link.c, transports/tcp_session.c) with
# a Python peer built on Debian's python3-dissononce, not on ferry's C code
# (skips without it).  hopwire.py is the wire in Python, from the documents;
# scripts/gen-link-corpus uses it too.  ferryagent.py runs ferryd and holds
# one TCP connection to it, for link_interop.py and intake_interop.py.
# Needs agent/ferryd and cli/ferry.
TESTS += tests/interop/link_interop.py
EXTRA_DIST += tests/interop/link_interop.py tests/interop/hopwire.py \
	tests/interop/ferryagent.py tests/interop/free_port.py
