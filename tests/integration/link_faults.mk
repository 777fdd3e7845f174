# link_faults: see the tests listed here (included from tests/local.mk).
# Two agents on loopback talking through fault_proxy, a TCP proxy that
# cuts connections after random byte counts, flips a byte, records and
# replays what the caller sent: link_faults.sh (200 cuts under a mixed
# load: exactly once, intact, little sent twice) and link_security.sh
# (wrong key, replay, tampering, nothing readable on the wire).
check_PROGRAMS += tests/integration/fault_proxy
tests_integration_fault_proxy_SOURCES = \
	tests/integration/fault_proxy.c $(IT_UTIL)
tests_integration_fault_proxy_LDADD = $(LIBFERRY)

LINK_FAULTS_IT_TESTS = \
	tests/integration/link_faults.sh \
	tests/integration/link_security.sh
TESTS += $(LINK_FAULTS_IT_TESTS)
EXTRA_DIST += $(LINK_FAULTS_IT_TESTS)
