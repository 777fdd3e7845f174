# Integration and fault tests of ferryd (included from tests/local.mk).
# Each .sh starts private agents in a temporary directory and drives them
# through `ferry`, libferry and the socket; the C helpers below are the
# libferry (and raw socket) clients they run.  See README.md there.
# FERRY_TEST_LONG=1 lengthens the fault tests.
IT_UTIL = tests/integration/itutil.c tests/integration/itutil.h

check_PROGRAMS += \
	tests/integration/load_clients \
	tests/integration/big_message \
	tests/integration/send_storm \
	tests/integration/raw_frames \
	tests/integration/acl_walk \
	tests/integration/push_subscriber \
	tests/integration/flood_client \
	tests/integration/hold_clients
tests_integration_load_clients_SOURCES = \
	tests/integration/load_clients.c $(IT_UTIL)
tests_integration_load_clients_LDADD = $(LIBFERRY)
tests_integration_big_message_SOURCES = \
	tests/integration/big_message.c $(IT_UTIL)
tests_integration_big_message_LDADD = $(LIBFERRY)
tests_integration_send_storm_SOURCES = \
	tests/integration/send_storm.c $(IT_UTIL)
tests_integration_send_storm_LDADD = $(LIBFERRY)
tests_integration_raw_frames_SOURCES = \
	tests/integration/raw_frames.c $(IT_UTIL)
tests_integration_raw_frames_LDADD = $(LIBFERRY)
tests_integration_acl_walk_SOURCES = \
	tests/integration/acl_walk.c $(IT_UTIL)
tests_integration_acl_walk_LDADD = $(LIBFERRY)
tests_integration_push_subscriber_SOURCES = \
	tests/integration/push_subscriber.c $(IT_UTIL)
tests_integration_push_subscriber_LDADD = $(LIBFERRY)
tests_integration_flood_client_SOURCES = tests/integration/flood_client.c
tests_integration_flood_client_LDADD = $(LIBFERRY)
tests_integration_hold_clients_SOURCES = tests/integration/hold_clients.c
tests_integration_hold_clients_LDADD = $(LIBFERRY)

AGENT_IT_TESTS = \
	tests/integration/agent_basic.sh \
	tests/integration/agent_concurrency.sh \
	tests/integration/agent_bigmsg.sh \
	tests/integration/agent_kill9.sh \
	tests/integration/agent_badframes.sh \
	tests/integration/agent_acl.sh \
	tests/integration/agent_sockgroup.sh \
	tests/integration/agent_quota.sh \
	tests/integration/agent_noroute.sh \
	tests/integration/agent_daemon.sh \
	tests/integration/agent_notify.sh \
	tests/integration/agent_smallvol.sh \
	tests/integration/agent_subscribe.sh \
	tests/integration/agent_flood.sh \
	tests/integration/agent_clients.sh \
	tests/integration/agent_fdlimit.sh \
	tests/integration/agent_ids.sh \
	tests/integration/agent_partials.sh \
	tests/integration/agent_metrics.sh
TESTS += $(AGENT_IT_TESTS)
EXTRA_DIST += $(AGENT_IT_TESTS) tests/integration/lib.sh \
	tests/integration/README.md
