# Tests: CUnit unit tests, integration and fault tests, fuzz targets.
noinst_LIBRARIES += tests/unit/libtestutil.a
tests_unit_libtestutil_a_SOURCES = tests/unit/testutil.c tests/unit/testutil.h
TEST_LIBS = tests/unit/libtestutil.a $(STORE_LIBS) $(CUNIT_LIBS)

check_PROGRAMS += tests/unit/test_store_queue
tests_unit_test_store_queue_SOURCES = tests/unit/test_store_queue.c
tests_unit_test_store_queue_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_store_queue_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_store_queue

check_PROGRAMS += tests/unit/test_store_writer
tests_unit_test_store_writer_SOURCES = tests/unit/test_store_writer.c
tests_unit_test_store_writer_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_store_writer_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_store_writer

include tests/fault/local.mk

check_PROGRAMS += tests/unit/test_store_record
tests_unit_test_store_record_SOURCES = tests/unit/test_store_record.c
tests_unit_test_store_record_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_store_record_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_store_record

check_PROGRAMS += tests/unit/test_lib_msg
tests_unit_test_lib_msg_SOURCES = tests/unit/test_lib_msg.c
tests_unit_test_lib_msg_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_lib_msg_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_lib_msg

# `make smoke` runs this narrated tour of the store.
noinst_PROGRAMS += tests/store_smoke
tests_store_smoke_SOURCES = tests/store_smoke.c
tests_store_smoke_LDADD = $(STORE_LIBS)

include tests/unit/policy.mk
include tests/unit/window.mk
include tests/unit/identity.mk
include tests/unit/http.mk
include tests/unit/noise.mk
include tests/unit/hop.mk
include tests/unit/tcp_full.mk
include tests/unit/bundle.mk
include tests/unit/store_sneaker.mk
include tests/unit/intake.mk
include tests/unit/seal.mk
include tests/fuzz/fuzz.mk
include tests/integration/cli.mk
include tests/integration/deb.mk
include tests/integration/agent.mk
include tests/integration/python.mk
include tests/integration/link.mk
include tests/integration/bridge.mk
include tests/integration/link_faults.mk
include tests/integration/link_kill.mk
include tests/integration/sneak.mk
include tests/integration/sneak_kill.mk
include tests/integration/sneak_race.mk
include tests/integration/http.mk
include tests/interop/link.mk
include tests/interop/bundle.mk

# agent/metrics_text.c: a metrics snapshot as Prometheus text.
check_PROGRAMS += tests/unit/test_agent_metrics_text
tests_unit_test_agent_metrics_text_SOURCES = \
	tests/unit/test_agent_metrics_text.c agent/metrics_text.c \
	agent/metrics.h
tests_unit_test_agent_metrics_text_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_agent_metrics_text_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_agent_metrics_text

# agent/msgid.c: ids derived alike on every node, fixed bytes.
check_PROGRAMS += tests/unit/test_agent_msgid
tests_unit_test_agent_msgid_SOURCES = \
	tests/unit/test_agent_msgid.c agent/msgid.c agent/msgid.h
tests_unit_test_agent_msgid_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_unit_test_agent_msgid_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_agent_msgid_LDADD = $(TEST_LIBS) $(SODIUM_LIBS)
TESTS += tests/unit/test_agent_msgid
