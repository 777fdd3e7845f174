# Integration tests of the `ferry` command that need no agent (included
# from tests/local.mk).
TESTS += tests/integration/cli_usage.sh
EXTRA_DIST += tests/integration/cli_usage.sh
