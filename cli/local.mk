# cli/: the `ferry` command (see cli/README.md and docs/ferry.1).
# One file per verb; it talks to ferryd only through libferry.  init and
# keygen work on the state directory through policy/ and the identity.
bin_PROGRAMS += cli/ferry
cli_ferry_SOURCES = \
	cli/cli.h \
	cli/ferry.c \
	cli/util.c \
	cli/send.c \
	cli/recv.c \
	cli/ack.c \
	cli/consume.c \
	cli/request.c \
	cli/queues.c \
	cli/status.c \
	cli/info.c \
	cli/peers.c \
	cli/metrics.c \
	cli/sneak.c \
	cli/init.c \
	cli/keygen.c
cli_ferry_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS) $(INIH_CFLAGS)
cli_ferry_LDADD = $(LIBFERRY) $(POLICY_LIBS) $(IDENTITY_LIBS)

dist_man_MANS += docs/ferry.1

# Bash completion (commands and options read from ferry itself, queue and
# node names from the running agent).
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = completion/ferry
