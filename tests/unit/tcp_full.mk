# unit tests of transports/tcp_full.c, what a TCP peer has no room for
# (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_tcp_full
tests_unit_test_transports_tcp_full_SOURCES = \
	tests/unit/test_transports_tcp_full.c transports/tcp_full.c \
	agent/log.c agent/log.h
tests_unit_test_transports_tcp_full_CPPFLAGS = $(AM_CPPFLAGS) \
	$(SODIUM_CFLAGS)
tests_unit_test_transports_tcp_full_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_transports_tcp_full_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_transports_tcp_full
