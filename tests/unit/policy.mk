# unit tests of policy (fragment included from tests/local.mk)
# policyutil: the config file from a string and the runner of the tables of
# cases that test_policy_config and test_policy_peers share.
POLICY_TEST_UTIL = tests/unit/policyutil.c tests/unit/policyutil.h
check_PROGRAMS += tests/unit/test_policy_config
tests_unit_test_policy_config_SOURCES = tests/unit/test_policy_config.c \
	$(POLICY_TEST_UTIL)
tests_unit_test_policy_config_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_config_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_config

check_PROGRAMS += tests/unit/test_policy_acl
tests_unit_test_policy_acl_SOURCES = tests/unit/test_policy_acl.c
tests_unit_test_policy_acl_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_acl_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_acl

check_PROGRAMS += tests/unit/test_policy_peers
tests_unit_test_policy_peers_SOURCES = tests/unit/test_policy_peers.c \
	$(POLICY_TEST_UTIL)
tests_unit_test_policy_peers_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_peers_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_peers
