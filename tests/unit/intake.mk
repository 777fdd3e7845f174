# unit tests of agent/intake.c over the loopback transport
# (transports/loopback.c), running the cases of tests/intake_cases.txt
# (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_intake
tests_unit_test_intake_SOURCES = tests/unit/test_intake.c \
	agent/intake.c agent/intake.h agent/log.c agent/log.h \
	$(LOOPBACK_SOURCES)
tests_unit_test_intake_CPPFLAGS = $(AM_CPPFLAGS) $(EVENT_CFLAGS) \
	$(SODIUM_CFLAGS)
tests_unit_test_intake_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_intake_LDADD = tests/unit/libtestutil.a $(POLICY_LIBS) \
	$(HOP_LIBS) $(STORE_LIBS) $(SODIUM_LIBS) $(CUNIT_LIBS)
TESTS += tests/unit/test_intake
