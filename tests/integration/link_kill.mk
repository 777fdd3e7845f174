# link_kill: see the tests listed here (included from tests/local.mk).
# Two agents on loopback: kill -9 of either during transfers
# (link_kill9.sh, with its sender and checker kill_sender), and urgent
# messages overtaking a large one, offline peers, traffic both ways and
# simultaneous dials (link_priority.sh).  FERRY_TEST_LONG=1 lengthens
# both.
check_PROGRAMS += tests/integration/kill_sender
tests_integration_kill_sender_SOURCES = \
	tests/integration/kill_sender.c $(IT_UTIL)
tests_integration_kill_sender_LDADD = $(LIBFERRY)

LINK_KILL_IT_TESTS = \
	tests/integration/link_kill9.sh \
	tests/integration/link_priority.sh
TESTS += $(LINK_KILL_IT_TESTS)
EXTRA_DIST += $(LINK_KILL_IT_TESTS)
