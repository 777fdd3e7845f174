# Two-node tests of TCP sessions between real agents on loopback.
LINK_IT_TESTS = \
	tests/integration/link_basic.sh \
	tests/integration/link_limits.sh
# Needs fault_proxy (link_faults.mk) to record alpha's message 1.
LINK_IT_TESTS += tests/integration/link_hs_flood.sh
LINK_IT_TESTS += tests/integration/link_call.sh
LINK_IT_TESTS += tests/integration/link_resume_hash.sh
LINK_IT_TESTS += tests/integration/link_peer_stats.sh
LINK_IT_TESTS += tests/integration/link_compress.sh
LINK_IT_TESTS += tests/integration/link_cut.sh
# Needs bench/bench_fleet (bench/local.mk, a check program).
LINK_IT_TESTS += tests/integration/link_fleet.sh
TESTS += $(LINK_IT_TESTS)
EXTRA_DIST += $(LINK_IT_TESTS)
LINK_IT_TESTS += tests/integration/route_chain.sh
LINK_IT_TESTS += tests/integration/route_seal.sh
EXTRA_DIST += tests/integration/seal_fetch.py
LINK_IT_TESTS += tests/integration/route_kill9.sh
LINK_IT_TESTS += tests/integration/route_group.sh
LINK_IT_TESTS += tests/integration/route_carry.sh
LINK_IT_TESTS += tests/integration/route_why_quota.sh
