# The Debian packages built, installed, used and purged (slow: only with
# FERRY_TEST_DEB=1 or FERRY_TEST_LONG=1; included from tests/local.mk).
TESTS += tests/integration/deb_package.sh
EXTRA_DIST += tests/integration/deb_package.sh
