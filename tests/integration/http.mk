# Two-node tests of the HTTP transport between real agents on loopback
# (docs/http.md), through real proxies where they say so.
HTTP_IT_TESTS = \
	tests/integration/http_basic.sh \
	tests/integration/http_proxy.sh \
	tests/integration/http_fallback.sh \
	tests/integration/http_faults.sh
TESTS += $(HTTP_IT_TESTS)
EXTRA_DIST += $(HTTP_IT_TESTS)
