# Integration tests of the `ferry` command (included from tests/local.mk):
# cli_usage needs no agent; cli_consume drives `ferry consume` against a
# private ferryd; cli_request `ferry request` and `consume --reply` on one
# node and two over TCP, timeouts and late replies (to dead);
# cli_request_stick the same answered through a stick (export/import);
# cli_completion the bash completion (completion/ferry) against one.
TESTS += tests/integration/cli_consume_bulk.sh
EXTRA_DIST += tests/integration/cli_consume_bulk.sh
# cli_send_lines: `ferry send --lines`, pipelined sends (issue 15).
TESTS += tests/integration/cli_send_lines.sh
EXTRA_DIST += tests/integration/cli_send_lines.sh
TESTS += tests/integration/cli_usage.sh tests/integration/cli_consume.sh \
	tests/integration/cli_request.sh tests/integration/cli_request_stick.sh \
	tests/integration/cli_completion.sh
EXTRA_DIST += tests/integration/cli_usage.sh tests/integration/cli_consume.sh \
	tests/integration/cli_request.sh tests/integration/cli_request_stick.sh \
	tests/integration/cli_completion.sh
check_PROGRAMS += tests/integration/request_client
tests_integration_request_client_SOURCES = tests/integration/request_client.c
tests_integration_request_client_LDADD = $(LIBFERRY)
