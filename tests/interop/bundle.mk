# bundle interop with Python (fragment included from tests/local.mk)
# Sealed bundles (transports/bundle.c, docs/formats.md) opened both ways
# between ferry's C code (bundle_peer) and bundlewire.py, the format in
# Python from the documents on Debian's python3-dissononce and
# python3-nacl (skips without them).
check_PROGRAMS += tests/interop/bundle_peer
tests_interop_bundle_peer_SOURCES = tests/interop/bundle_peer.c
tests_interop_bundle_peer_LDADD = $(BUNDLE_LIBS)
TESTS += tests/interop/bundle_interop.py
EXTRA_DIST += tests/interop/bundle_interop.py tests/interop/bundlewire.py
# A live ferryd imports bundles that bundlewire.py sealed (a message is
# delivered, custody comes back readable in Python), and refuses one dated
# beyond the clock-skew allowance unless --skew allows it.
TESTS += tests/interop/sneak_pybundle.py
EXTRA_DIST += tests/interop/sneak_pybundle.py
# What a peer may hand ferryd, each case over TCP (hopwire.py) and in a
# bundle (bundlewire.py): a source that is not the peer, a reserved ferry.*
# queue, a payload above max_message, a receipt for a message that went to
# another node: nothing stored, no custody; `ferry send` to ferry.* is
# refused; a FIFO named like a bundle does not block the import; a sender
# clock a year off neither expires nor immortalises a message.  The cases
# are tests/intake_cases.txt, which tests/unit/test_intake.c runs too.
TESTS += tests/interop/intake_interop.py
EXTRA_DIST += tests/interop/intake_interop.py tests/intake_cases.txt
# Relayed messages and signed origins (docs/routing.md): a Python alpha
# relays for omega/zeta (in beta's [directory]); a forged payload or
# source is dead "forged origin", unsigned is "unverified" (dead for a
# require_verified queue), a relayed receipt counts only when signed.
TESTS += tests/interop/relay_forgery.py
EXTRA_DIST += tests/interop/relay_forgery.py
