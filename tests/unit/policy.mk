# unit tests of policy (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_policy_config
tests_unit_test_policy_config_SOURCES = tests/unit/test_policy_config.c
tests_unit_test_policy_config_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_config_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_config

check_PROGRAMS += tests/unit/test_policy_acl
tests_unit_test_policy_acl_SOURCES = tests/unit/test_policy_acl.c
tests_unit_test_policy_acl_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_acl_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_acl

check_PROGRAMS += tests/unit/test_policy_peers
tests_unit_test_policy_peers_SOURCES = tests/unit/test_policy_peers.c
tests_unit_test_policy_peers_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_policy_peers_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_policy_peers
