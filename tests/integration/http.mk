# Two-node tests of the HTTP transport between real agents on loopback
# (docs/http.md), through real proxies where they say so.
HTTP_IT_TESTS = \
	tests/integration/http_basic.sh \
	tests/integration/http_proxy.sh \
	tests/integration/http_fallback.sh \
	tests/integration/http_faults.sh
# Hostile clients against a node serving HTTP while a peer keeps using
# it; its clients, proxy and request signing are in http_hostile.py.
HTTP_IT_TESTS += tests/integration/http_hostile.sh
# Contact windows over HTTP (docs/routing.md section 6).
HTTP_IT_TESTS += tests/integration/http_window.sh
TESTS += $(HTTP_IT_TESTS)
EXTRA_DIST += $(HTTP_IT_TESTS) tests/integration/http_hostile.py
