# Two-node tests of TCP sessions between real agents on loopback.
LINK_IT_TESTS = \
	tests/integration/link_basic.sh \
	tests/integration/link_limits.sh
TESTS += $(LINK_IT_TESTS)
EXTRA_DIST += $(LINK_IT_TESTS)
