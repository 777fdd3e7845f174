# Benchmarks: built by `make bench`, never by `make all` or `make check`.
#
#   make bench                  both benchmarks (about 60 s)
#   make bench-store            the store against the raw disk (30-40 s)
#   make bench-agent            ferryd's socket against the store (~25 s)
#   BENCH_QUICK=1 make bench    every row about five times shorter
#   BENCH_DIR=/mnt/x make bench measure another filesystem
#
# Each run happens in a fresh mktemp -d directory under BENCH_DIR (default:
# the build directory), removed afterwards whatever happens.  See
# bench/README.md for what each row measures and how to read the ratios.
EXTRA_PROGRAMS += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c
bench_bench_store_LDADD = $(STORE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_store$(EXEEXT)

# bench_agent starts the ferryd of this build tree, given as its path.
EXTRA_PROGRAMS += bench/bench_agent
bench_bench_agent_SOURCES = bench/bench_agent.c
bench_bench_agent_LDADD = $(LIBFERRY) $(STORE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_agent$(EXEEXT)
EXTRA_DIST += bench/README.md

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

# One after the other, never at once: each would measure the other.
bench:
	@$(MAKE) $(AM_MAKEFLAGS) bench-store && \
	$(MAKE) $(AM_MAKEFLAGS) bench-agent

.PHONY: bench bench-store bench-agent
