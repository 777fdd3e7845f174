# unit tests of transports/tcp_full.c (what a TCP peer has no room for)
# and transports/tcp_ids.c
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

# unit tests of transports/tcp_ids.c: a session's id set, the custody
# ring replayed to a peer, page buffers given back when idle
check_PROGRAMS += tests/unit/test_transports_tcp_ids
tests_unit_test_transports_tcp_ids_SOURCES = \
	tests/unit/test_transports_tcp_ids.c transports/tcp_ids.c
tests_unit_test_transports_tcp_ids_CPPFLAGS = $(AM_CPPFLAGS) \
	$(SODIUM_CFLAGS)
tests_unit_test_transports_tcp_ids_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_transports_tcp_ids_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_transports_tcp_ids
