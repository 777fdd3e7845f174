# Benchmarks: built by `make bench`, never by `make all` or `make check`.
#
#   make bench                  all five benchmarks (15-20 minutes)
#   make bench-store            the store against the raw disk (30-40 s)
#   make bench-agent            ferryd's socket against the store (~25 s)
#   make bench-link             two ferryd over TCP, next to NNCP (~10 min)
#   make bench-sneak            export/import on a medium, next to NNCP and cp
#   make bench-http             field -> base over HTTP, next to TCP and curl
#   make bench-idle             wake-ups and CPU of an idle node (60 s)
#   make bench-fleet            N = 100, 500, 1,000 field nodes on one base
#                               (about 4 minutes; FLEET_N=1000 for one)
#   BENCH_QUICK=1 make bench    every row about five times shorter
#   BENCH_DIR=/mnt/x make bench measure another filesystem
#
# Each run happens in a fresh mktemp -d directory under BENCH_DIR (default:
# the build directory; for bench-link $TMPDIR or /tmp), removed afterwards
# whatever happens.  See bench/README.md for what each row measures and how
# to read the ratios.
# What the three benchmark programs share: failing, cells, clocks, paths.
BENCH_UTIL = bench/bench_util.c bench/bench_util.h

EXTRA_PROGRAMS += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c $(BENCH_UTIL)
bench_bench_store_LDADD = $(STORE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_store$(EXEEXT)

# bench_agent starts the ferryd of this build tree, given as its path.
EXTRA_PROGRAMS += bench/bench_agent
bench_bench_agent_SOURCES = bench/bench_agent.c $(BENCH_UTIL)
bench_bench_agent_LDADD = $(LIBFERRY) $(STORE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_agent$(EXEEXT)

# bench_link starts two ferryd of this build tree (and NNCP, if installed).
EXTRA_PROGRAMS += bench/bench_link
bench_bench_link_SOURCES = bench/bench_link.c $(BENCH_UTIL)
bench_bench_link_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
bench_bench_link_LDADD = $(LIBFERRY) $(NOISE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_link$(EXEEXT)

# bench_sneak.sh drives two ferryd through `ferry export` / `ferry import`
# (and NNCP's nncp-xfer, if installed); bench_sneak_util queues its small
# messages through libferry, times commands (wall time, peak RSS) and
# drops the medium's files from the page cache before a read.
EXTRA_PROGRAMS += bench/bench_sneak_util
bench_bench_sneak_util_SOURCES = bench/bench_sneak_util.c $(BENCH_UTIL)
bench_bench_sneak_util_LDADD = $(LIBFERRY) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_sneak_util$(EXEEXT)
EXTRA_DIST += bench/README.md bench/bench_sneak.sh bench/bench_lib.sh

# bench_http.sh drives two ferryd over HTTP and over TCP, next to curl
# uploading the same bytes to the same server; bench_http_sign signs
# curl's request with the field node's key (the server reads no body of
# an unsigned one).  It borrows the transport's request signing.
EXTRA_PROGRAMS += bench/bench_http_sign
bench_bench_http_sign_SOURCES = bench/bench_http_sign.c \
	transports/http_parse.c transports/http.h
bench_bench_http_sign_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
bench_bench_http_sign_LDADD = $(IDENTITY_LIBS)
CLEANFILES += bench/bench_http_sign$(EXEEXT)
EXTRA_DIST += bench/bench_http.sh

bench-store: bench/bench_store$(EXEEXT)
	@parent="$${BENCH_DIR:-$(abs_top_builddir)}"; \
	dir=`mktemp -d "$$parent/bench-store.XXXXXX"` || exit 1; \
	trap 'rm -rf "$$dir"' 0; \
	trap 'exit 130' 1 2 15; \
	./bench/bench_store$(EXEEXT) "$$dir"

bench-agent: bench/bench_agent$(EXEEXT) agent/ferryd$(EXEEXT)
	@parent="$${BENCH_DIR:-$(abs_top_builddir)}"; \
	dir=`mktemp -d "$$parent/bench-agent.XXXXXX"` || exit 1; \
	trap 'rm -rf "$$dir"' 0; \
	trap 'exit 130' 1 2 15; \
	./bench/bench_agent$(EXEEXT) "$$dir" \
		'$(abs_top_builddir)/agent/ferryd$(EXEEXT)'

# The program makes (and removes) its own mktemp -d directory under the
# parent it is given.
bench-link: bench/bench_link$(EXEEXT) agent/ferryd$(EXEEXT)
	@./bench/bench_link$(EXEEXT) "$${BENCH_DIR:-$${TMPDIR:-/tmp}}" \
		'$(abs_top_builddir)/agent/ferryd$(EXEEXT)'

# The script makes (and removes) its own mktemp -d directory under the
# parent it is given; BENCH_MEDIUM=DIR puts the medium elsewhere (a stick).
bench-sneak: bench/bench_sneak_util$(EXEEXT) agent/ferryd$(EXEEXT) \
		cli/ferry$(EXEEXT)
	@top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/bench/bench_sneak.sh' \
		"$${BENCH_DIR:-$${TMPDIR:-/tmp}}"

# A generated 100 MiB text log on the wire: ferry over TCP (compress =
# auto and no), ferry's bundle, NNCP's packets (nncp-file, nncp-exec);
# its own mktemp -d under the parent it is given (docs/hop.md 4.8).
bench-compress: bench/bench_sneak_util$(EXEEXT) agent/ferryd$(EXEEXT) \
		cli/ferry$(EXEEXT)
	@top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/bench/bench_compress.sh' \
		"$${BENCH_DIR:-$${TMPDIR:-/tmp}}"
EXTRA_DIST += bench/bench_compress.sh

# The same: its own mktemp -d under the parent it is given.  Needs curl
# for the raw reference (the row is skipped without it).
bench-http: bench/bench_sneak_util$(EXEEXT) bench/bench_http_sign$(EXEEXT) \
		agent/ferryd$(EXEEXT) cli/ferry$(EXEEXT)
	@top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/bench/bench_http.sh' \
		"$${BENCH_DIR:-$${TMPDIR:-/tmp}}"

# An idle node's wake-ups per second and CPU (issue "Performance", aim
# 6); its own mktemp -d under the parent it is given.
bench-idle: agent/ferryd$(EXEEXT) cli/ferry$(EXEEXT)
	@top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/bench/bench_idle.sh' \
		"$${BENCH_DIR:-$${TMPDIR:-/tmp}}"
EXTRA_DIST += bench/bench_idle.sh

# Slow, paid links (issue 15, aim 5): bytes on the wire per 1 KiB
# message, goodput under `rate = 256K` and an urgent message overtaking a
# big one; its own mktemp -d under the parent it is given.
bench-slow: bench/bench_sneak_util$(EXEEXT) agent/ferryd$(EXEEXT) \
		cli/ferry$(EXEEXT)
	@top_builddir='$(abs_top_builddir)' \
		$(SHELL) '$(abs_top_srcdir)/bench/bench_slow.sh' \
		"$${BENCH_DIR:-$${TMPDIR:-/tmp}}"
EXTRA_DIST += bench/bench_slow.sh

# N simulated field nodes (one thread, one epoll loop, each node its own
# identity and Noise session, built from the transport's own noise, hop
# and identity code) against one ferryd base (issue 16).  The program
# makes (and removes) its own mktemp -d under the parent it is given and
# writes its figures as JSON to bench-fleet.json in the build directory.
# Built by make check too: its --smoke mode is a test
# (tests/integration/link_fleet.sh, about 5 s).
check_PROGRAMS += bench/bench_fleet
bench_bench_fleet_SOURCES = bench/bench_fleet.c bench/fleet_sim.c \
	bench/fleet_sim.h $(BENCH_UTIL)
bench_bench_fleet_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
bench_bench_fleet_LDADD = $(LIBFERRY) transports/libhop.a $(NOISE_LIBS) \
	$(PTHREAD_LIBS) -lm
CLEANFILES += bench-fleet.json

bench-fleet: bench/bench_fleet$(EXEEXT) agent/ferryd$(EXEEXT)
	@FLEET_JSON="$${FLEET_JSON-$(abs_top_builddir)/bench-fleet.json}" \
	./bench/bench_fleet$(EXEEXT) "$${BENCH_DIR:-$${TMPDIR:-/tmp}}" \
		'$(abs_top_builddir)/agent/ferryd$(EXEEXT)'

# One after the other, never at once: each would measure the other.
# Each appends the aims of issue 15 it measured to bench/aims.tsv
# (BENCH_AIMS); bench_report.sh ends the run with one table of them all
# and writes it as JSON to bench/results.json, also after a failure.
BENCH_AIMS_FILE = $(abs_top_builddir)/bench/aims.tsv
BENCH_RESULTS = $(abs_top_builddir)/bench/results.json
CLEANFILES += bench/aims.tsv bench/results.json
EXTRA_DIST += bench/bench_aim.sh bench/bench_report.sh
bench:
	@rm -f '$(BENCH_AIMS_FILE)'; \
	BENCH_AIMS='$(BENCH_AIMS_FILE)'; export BENCH_AIMS; \
	$(MAKE) $(AM_MAKEFLAGS) bench-store && \
	$(MAKE) $(AM_MAKEFLAGS) bench-agent && \
	$(MAKE) $(AM_MAKEFLAGS) bench-link && \
	$(MAKE) $(AM_MAKEFLAGS) bench-sneak && \
	$(MAKE) $(AM_MAKEFLAGS) bench-compress && \
	$(MAKE) $(AM_MAKEFLAGS) bench-http && \
	$(MAKE) $(AM_MAKEFLAGS) bench-slow && \
	$(MAKE) $(AM_MAKEFLAGS) bench-idle; rc=$$?; \
	$(SHELL) '$(abs_top_srcdir)/bench/bench_report.sh' \
		'$(BENCH_AIMS_FILE)' '$(BENCH_RESULTS)' || rc=1; \
	exit $$rc

# The closing table alone, from the aims the last runs recorded.
bench-report:
	@$(SHELL) '$(abs_top_srcdir)/bench/bench_report.sh' \
		'$(BENCH_AIMS_FILE)' '$(BENCH_RESULTS)'

.PHONY: bench bench-report bench-slow bench-compress bench-store bench-agent bench-link bench-sneak bench-http bench-idle \
	bench-fleet
