# unit tests of identity (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_identity
tests_unit_test_transports_identity_SOURCES = \
	tests/unit/test_transports_identity.c tests/unit/identity_vectors.h
tests_unit_test_transports_identity_CFLAGS = \
	$(AM_CFLAGS) $(CUNIT_CFLAGS) $(SODIUM_CFLAGS)
tests_unit_test_transports_identity_LDADD = $(IDENTITY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_identity

# identity_vectors.h is the committed output of this script (python3-nacl).
# `make check-identity-vectors` regenerates it and compares.
EXTRA_DIST += scripts/gen-identity-vectors
check-identity-vectors:
	$(srcdir)/scripts/gen-identity-vectors | \
		diff -u $(srcdir)/tests/unit/identity_vectors.h -
.PHONY: check-identity-vectors
