# unit tests of contact windows, policy/window.c (fragment included from
# tests/local.mk)
check_PROGRAMS += tests/unit/test_window
tests_unit_test_window_SOURCES = tests/unit/test_window.c
tests_unit_test_window_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_window_LDADD = $(POLICY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_window
