# libFuzzer targets: ./configure --enable-fuzz CC=clang; scripts/run-fuzz
# runs each for a while.  Without --enable-fuzz, their seed corpora are
# replayed by tests/fuzz/replay_* through a small driver (make check).
EXTRA_DIST += tests/fuzz/corpus scripts/run-fuzz tests/fuzz/replay.c

if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_frame tests/fuzz/fuzz_store_record \
	tests/fuzz/fuzz_card
tests_fuzz_fuzz_frame_SOURCES = tests/fuzz/fuzz_frame.c
tests_fuzz_fuzz_frame_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_frame_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_frame_LDADD = lib/libferrycore.a
tests_fuzz_fuzz_store_record_SOURCES = tests/fuzz/fuzz_store_record.c
tests_fuzz_fuzz_store_record_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_store_record_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_store_record_LDADD = $(STORE_LIBS)
tests_fuzz_fuzz_card_SOURCES = tests/fuzz/fuzz_card.c
tests_fuzz_fuzz_card_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_fuzz_card_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_card_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_card_LDADD = $(IDENTITY_LIBS)
endif

# The corpora replay in every `make check`, fuzzer or not.
check_PROGRAMS += tests/fuzz/replay_frame tests/fuzz/replay_store_record \
	tests/fuzz/replay_card
tests_fuzz_replay_frame_SOURCES = tests/fuzz/fuzz_frame.c tests/fuzz/replay.c
tests_fuzz_replay_frame_LDADD = lib/libferrycore.a
tests_fuzz_replay_store_record_SOURCES = tests/fuzz/fuzz_store_record.c \
	tests/fuzz/replay.c
tests_fuzz_replay_store_record_LDADD = $(STORE_LIBS)
tests_fuzz_replay_card_SOURCES = tests/fuzz/fuzz_card.c tests/fuzz/replay.c
tests_fuzz_replay_card_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_replay_card_LDADD = $(IDENTITY_LIBS)
TESTS += tests/fuzz/replay_frame.sh tests/fuzz/replay_store_record.sh \
	tests/fuzz/replay_card.sh
EXTRA_DIST += tests/fuzz/replay_frame.sh tests/fuzz/replay_store_record.sh \
	tests/fuzz/replay_card.sh

# Noise handshake messages and transport records (transports/noise.c).
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_noise
tests_fuzz_fuzz_noise_SOURCES = tests/fuzz/fuzz_noise.c \
	tests/unit/noise_vectors.h
tests_fuzz_fuzz_noise_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_noise_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_noise_LDADD = $(NOISE_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_noise
tests_fuzz_replay_noise_SOURCES = tests/fuzz/fuzz_noise.c tests/fuzz/replay.c \
	tests/unit/noise_vectors.h
tests_fuzz_replay_noise_LDADD = $(NOISE_LIBS)
TESTS += tests/fuzz/replay_noise.sh
EXTRA_DIST += tests/fuzz/replay_noise.sh

# Hop frames inside a decrypted record (transports/hop.c).
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_hop
# hop.c is compiled into the target so that libFuzzer's coverage and ASan
# see inside the codec (transports/libhop.a is built without them).
tests_fuzz_fuzz_hop_SOURCES = tests/fuzz/fuzz_hop.c transports/hop.c \
	transports/hop_zstd.c
tests_fuzz_fuzz_hop_CPPFLAGS = $(AM_CPPFLAGS) $(ZSTD_CFLAGS)
tests_fuzz_fuzz_hop_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_hop_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_hop_LDADD = lib/libferrycore.a $(ZSTD_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_hop
tests_fuzz_replay_hop_SOURCES = tests/fuzz/fuzz_hop.c tests/fuzz/replay.c
tests_fuzz_replay_hop_LDADD = $(HOP_LIBS)
TESTS += tests/fuzz/replay_hop.sh
EXTRA_DIST += tests/fuzz/replay_hop.sh

# What a listener parses from an unauthenticated caller: preamble, Noise
# message 1, then the first records' hop frames (transports/tcp_link.c, session.c).
# Seeds: scripts/gen-link-corpus (dissononce) writes tests/fuzz/corpus/link.
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_link
# noise.c and hop.c are compiled into the target so that libFuzzer's
# coverage and ASan see inside them (their libraries are built without).
tests_fuzz_fuzz_link_SOURCES = tests/fuzz/fuzz_link.c transports/noise.c \
	transports/chachapoly.c transports/hop.c tests/unit/noise_vectors.h
tests_fuzz_fuzz_link_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS) \
	$(CRYPTO_CFLAGS)
tests_fuzz_fuzz_link_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_link_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_link_LDADD = lib/libferrycore.a $(SODIUM_LIBS) $(CRYPTO_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_link
tests_fuzz_replay_link_SOURCES = tests/fuzz/fuzz_link.c tests/fuzz/replay.c \
	tests/unit/noise_vectors.h
tests_fuzz_replay_link_LDADD = $(NOISE_LIBS) $(HOP_LIBS)
TESTS += tests/fuzz/replay_link.sh
EXTRA_DIST += tests/fuzz/replay_link.sh scripts/gen-link-corpus

# Sealed bundles as read from a medium (transports/bundle.c); seeds are
# written by FERRY_GEN_BUNDLE_CORPUS=dir tests/unit/test_transports_bundle.
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_bundle
# The bundle codec and what it calls are compiled into the target so that
# libFuzzer's coverage and ASan see inside them (their libraries are
# built without).
tests_fuzz_fuzz_bundle_SOURCES = tests/fuzz/fuzz_bundle.c \
	transports/bundle.c transports/hash512.c transports/noise.c \
	transports/chachapoly.c transports/hop.c transports/identity.c \
	transports/base32.c
tests_fuzz_fuzz_bundle_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS) \
	$(CRYPTO_CFLAGS)
tests_fuzz_fuzz_bundle_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_bundle_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_bundle_LDADD = lib/libferrycore.a $(SODIUM_LIBS) \
	$(CRYPTO_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_bundle
tests_fuzz_replay_bundle_SOURCES = tests/fuzz/fuzz_bundle.c tests/fuzz/replay.c
tests_fuzz_replay_bundle_LDADD = $(BUNDLE_LIBS)
TESTS += tests/fuzz/replay_bundle.sh
EXTRA_DIST += tests/fuzz/replay_bundle.sh

# The HTTP transport's parsers of outside bytes: routes, Authorization,
# numbers, Range, poll answers (transports/http_parse.c).
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_http
# http_parse.c is compiled into the target so that libFuzzer's coverage
# and ASan see inside it (ferryd links it, no library holds it).
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c transports/http_parse.c
tests_fuzz_fuzz_http_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_fuzz_http_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_http_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_http_LDADD = $(IDENTITY_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_http
tests_fuzz_replay_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/replay.c \
	transports/http_parse.c
tests_fuzz_replay_http_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_replay_http_LDADD = $(IDENTITY_LIBS)
TESTS += tests/fuzz/replay_http.sh
EXTRA_DIST += tests/fuzz/replay_http.sh

# Sealed payloads (agent/seal.c): lengths, format, damage.
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_seal
tests_fuzz_fuzz_seal_SOURCES = tests/fuzz/fuzz_seal.c agent/seal.c
tests_fuzz_fuzz_seal_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_fuzz_seal_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_seal_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_seal_LDADD = $(SODIUM_LIBS)
endif
check_PROGRAMS += tests/fuzz/replay_seal
tests_fuzz_replay_seal_SOURCES = tests/fuzz/fuzz_seal.c tests/fuzz/replay.c \
	agent/seal.c agent/seal.h
tests_fuzz_replay_seal_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
tests_fuzz_replay_seal_LDADD = $(SODIUM_LIBS)
TESTS += tests/fuzz/replay_seal.sh
EXTRA_DIST += tests/fuzz/replay_seal.sh
