# Integration tests of the `ferry` command (included from tests/local.mk):
# cli_usage needs no agent; cli_consume drives `ferry consume` against a
# private ferryd.
TESTS += tests/integration/cli_usage.sh tests/integration/cli_consume.sh
EXTRA_DIST += tests/integration/cli_usage.sh tests/integration/cli_consume.sh
