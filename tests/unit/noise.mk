# unit tests of transports/noise.c (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_noise
tests_unit_test_transports_noise_SOURCES = \
	tests/unit/test_transports_noise.c tests/unit/noise_vectors.h
tests_unit_test_transports_noise_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_transports_noise_LDADD = $(NOISE_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_noise

# noise_vectors.h is the committed output of this script (Debian's
# python3-dissononce).  `make check-noise-vectors` regenerates it and
# compares.
EXTRA_DIST += scripts/gen-noise-vectors
check-noise-vectors:
	$(srcdir)/scripts/gen-noise-vectors | \
		diff -u $(srcdir)/tests/unit/noise_vectors.h -
.PHONY: check-noise-vectors

# Live interop with dissononce both ways (skips without python3-dissononce).
check_PROGRAMS += tests/interop/noise_peer
tests_interop_noise_peer_SOURCES = tests/interop/noise_peer.c
tests_interop_noise_peer_LDADD = $(NOISE_LIBS)
TESTS += tests/interop/noise_interop.py
EXTRA_DIST += tests/interop/noise_interop.py
