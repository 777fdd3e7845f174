# unit tests of store/sneaker.c (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_store_sneaker
tests_unit_test_store_sneaker_SOURCES = tests/unit/test_store_sneaker.c
tests_unit_test_store_sneaker_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_store_sneaker_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_store_sneaker
