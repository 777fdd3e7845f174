# The NATS JetStream bridge (agent/bridge.c, docs/bridge.md) against a
# real 3-node nats-server cluster on loopback.
check_PROGRAMS += tests/integration/nats_tool
tests_integration_nats_tool_SOURCES = tests/integration/nats_tool.c
tests_integration_nats_tool_CPPFLAGS = $(AM_CPPFLAGS) $(NATS_CFLAGS)
tests_integration_nats_tool_LDADD = $(NATS_LIBS)
TESTS += tests/integration/bridge_nats.sh
EXTRA_DIST += tests/integration/bridge_nats.sh
TESTS += tests/integration/bridge_two.sh
EXTRA_DIST += tests/integration/bridge_two.sh tests/integration/lib_nats.sh
