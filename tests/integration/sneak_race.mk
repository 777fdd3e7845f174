# A message that reaches its node over TCP and on a stick at once
# (fragment included from tests/local.mk).  sneak_race.sh: a 48 MiB
# message on a rate-limited link while the first of its bundles, or all
# of them, are imported: stored exactly once, whole, nothing left.
# sneak_race_soak.sh: the same at random (sizes, prefixes and subsets of
# the bundles, moments, kill -9 of either agent; seeded), 4 rounds (30
# with FERRY_TEST_LONG=1).
# sneak_partial.sh: a bundle that fails to verify discards no partial
# payload (a cut transfer resumes from what it kept).
SNEAK_RACE_IT_TESTS = \
	tests/integration/sneak_race.sh \
	tests/integration/sneak_race_soak.sh \
	tests/integration/sneak_partial.sh
TESTS += $(SNEAK_RACE_IT_TESTS)
EXTRA_DIST += $(SNEAK_RACE_IT_TESTS)
