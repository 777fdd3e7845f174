# unit tests of transports/hop.c (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_hop
tests_unit_test_transports_hop_SOURCES = tests/unit/test_transports_hop.c
tests_unit_test_transports_hop_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_transports_hop_LDADD = $(HOP_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_hop

# CHUNKZ (transports/hop_zstd.c): round trips, bombs, lies, garbage.
check_PROGRAMS += tests/unit/test_transports_hop_zstd
tests_unit_test_transports_hop_zstd_SOURCES = \
	tests/unit/test_transports_hop_zstd.c
tests_unit_test_transports_hop_zstd_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_transports_hop_zstd_LDADD = $(HOP_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_hop_zstd
