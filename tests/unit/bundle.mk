# unit tests of transports/bundle.c (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_bundle
tests_unit_test_transports_bundle_SOURCES = tests/unit/test_transports_bundle.c
tests_unit_test_transports_bundle_CFLAGS = \
	$(AM_CFLAGS) $(CUNIT_CFLAGS) $(SODIUM_CFLAGS)
tests_unit_test_transports_bundle_LDADD = $(BUNDLE_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_bundle
