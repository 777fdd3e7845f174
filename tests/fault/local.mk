# Fault tests of the store: kill -9 during commits, a disk that runs full.
# Each runs through its .sh wrapper (TESTS), which finds the program in
# $(top_builddir); FERRY_TEST_LONG=1 lengthens the crash test.  See README.md.
check_PROGRAMS += tests/fault/crash_store tests/fault/diskfull_store
# faultutil: their generator, id fields and computed payloads; itutil (from
# tests/integration) for clocks and whole writes.
FAULT_UTIL = tests/fault/faultutil.c tests/fault/faultutil.h \
	tests/integration/itutil.c tests/integration/itutil.h
tests_fault_crash_store_SOURCES = tests/fault/crash_store.c $(FAULT_UTIL)
tests_fault_crash_store_LDADD = $(STORE_LIBS) $(LIBFERRY)
tests_fault_diskfull_store_SOURCES = tests/fault/diskfull_store.c $(FAULT_UTIL)
tests_fault_diskfull_store_LDADD = $(STORE_LIBS) $(LIBFERRY)
TESTS += tests/fault/crash_store.sh tests/fault/diskfull_store.sh
EXTRA_DIST += tests/fault/crash_store.sh tests/fault/diskfull_store.sh \
	tests/fault/README.md
