# Benchmarks: built by `make bench`, never by `make all` or `make check`.
#
#   make bench                  full run (about 30-40 s)
#   BENCH_QUICK=1 make bench    every row about five times shorter
#   BENCH_DIR=/mnt/x make bench measure another filesystem
#
# The run happens in a fresh mktemp -d directory under BENCH_DIR (default:
# the build directory), removed afterwards whatever happens.  See
# bench/README.md for what each row measures and how to read the ratios.
EXTRA_PROGRAMS += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c
bench_bench_store_LDADD = $(STORE_LIBS) $(PTHREAD_LIBS)
CLEANFILES += bench/bench_store$(EXEEXT)
EXTRA_DIST += bench/README.md

bench: bench/bench_store$(EXEEXT)
	@parent="$${BENCH_DIR:-$(abs_top_builddir)}"; \
	dir=`mktemp -d "$$parent/bench-store.XXXXXX"` || exit 1; \
	trap 'rm -rf "$$dir"' 0; \
	trap 'exit 130' 1 2 15; \
	./bench/bench_store$(EXEEXT) "$$dir"

.PHONY: bench
