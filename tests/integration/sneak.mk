# ferry export / import between real agents: through a folder, on FUSE FAT
# and exFAT images (medium.sh; skips without root or the packages), and
# with 1,000 damaged bundles.
SNEAK_IT_TESTS = \
	tests/integration/sneak_basic.sh \
	tests/integration/sneak_compress.sh \
	tests/integration/sneak_corrupt.sh \
	tests/integration/sneak_deputy.sh \
	tests/integration/sneak_dir.sh \
	tests/integration/sneak_fat.sh \
	tests/integration/sneak_ttl.sh
TESTS += $(SNEAK_IT_TESTS)
EXTRA_DIST += $(SNEAK_IT_TESTS) tests/integration/medium.sh
