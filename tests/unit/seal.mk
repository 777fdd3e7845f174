# unit tests of sealed payloads, agent/seal.c (fragment included from
# tests/local.mk)
check_PROGRAMS += tests/unit/test_seal
tests_unit_test_seal_SOURCES = tests/unit/test_seal.c \
	agent/seal.c agent/seal.h
tests_unit_test_seal_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_unit_test_seal_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_seal_LDADD = $(TEST_LIBS) $(SODIUM_LIBS)
TESTS += tests/unit/test_seal
