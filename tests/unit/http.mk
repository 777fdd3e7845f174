# unit tests of the HTTP transport's parsers and request signatures
# (fragment included from tests/local.mk)
check_PROGRAMS += tests/unit/test_transports_http
tests_unit_test_transports_http_SOURCES = \
	tests/unit/test_transports_http.c transports/http_parse.c
tests_unit_test_transports_http_CFLAGS = \
	$(AM_CFLAGS) $(CUNIT_CFLAGS) $(SODIUM_CFLAGS)
tests_unit_test_transports_http_LDADD = $(IDENTITY_LIBS) $(TEST_LIBS)
TESTS += tests/unit/test_transports_http
