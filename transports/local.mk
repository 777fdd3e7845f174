# transports/: hop crypto and transports (see transports/README.md).

# Node identity: secret seed, key pairs, card, node id, fingerprint and
# labelled signatures (docs/identity.md).  A crypto file: sodium.h allowed.
noinst_LIBRARIES += transports/libidentity.a
transports_libidentity_a_SOURCES = \
	transports/identity.c transports/identity.h \
	transports/base32.c transports/base32.h
transports_libidentity_a_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS)
IDENTITY_LIBS = transports/libidentity.a lib/libferrycore.a $(SODIUM_LIBS)

EXTRA_DIST += docs/identity.md

# Noise_IK_25519_ChaChaPoly_SHA256 handshakes and transport ciphers of TCP
# sessions (docs/noise.md).  A crypto file: sodium.h allowed.
noinst_LIBRARIES += transports/libnoise.a
transports_libnoise_a_SOURCES = transports/noise.c transports/noise.h \
	transports/chachapoly.c transports/chachapoly.h
transports_libnoise_a_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS) \
	$(CRYPTO_CFLAGS)
NOISE_LIBS = transports/libnoise.a transports/libidentity.a \
	lib/libferrycore.a $(SODIUM_LIBS) $(CRYPTO_LIBS)

EXTRA_DIST += docs/noise.md

# The hop frame codec: frames inside one decrypted Noise record or bundle
# chunk (docs/hop.md).  Plain C: no sodium.h, no allocation; hop_zstd.c
# (CHUNKZ, zstd.h allowed there alone) makes its contexts on first use.
noinst_LIBRARIES += transports/libhop.a
transports_libhop_a_SOURCES = transports/hop.c transports/hop.h \
	transports/hop_zstd.c
transports_libhop_a_CPPFLAGS = $(AM_CPPFLAGS) $(ZSTD_CFLAGS)
HOP_LIBS = transports/libhop.a lib/libferrycore.a $(ZSTD_LIBS)

EXTRA_DIST += docs/hop.md

# Sealed offline bundles: Noise K key wrap, secretstream body, Ed25519
# trailer (docs/formats.md).  A crypto file: sodium.h allowed.
noinst_LIBRARIES += transports/libbundle.a
transports_libbundle_a_SOURCES = transports/bundle.c transports/bundle.h \
	transports/hash512.c transports/hash512.h
transports_libbundle_a_CPPFLAGS = $(AM_CPPFLAGS) $(SODIUM_CFLAGS) \
	$(CRYPTO_CFLAGS)
BUNDLE_LIBS = transports/libbundle.a transports/libnoise.a \
	transports/libhop.a transports/libidentity.a lib/libferrycore.a \
	$(SODIUM_LIBS) $(CRYPTO_LIBS) $(ZSTD_LIBS)

EXTRA_DIST += docs/formats.md

# The transports ferryd runs, each behind one table of operations
# (transports/transport.h, docs/transports.md).  They are compiled into
# ferryd: they use its log, its job pool, the intake (agent/intake.c) and
# the forwarding engine (agent/engine.c).  The registry lists them.
agent_ferryd_SOURCES += transports/transport.h transports/registry.c

# TCP: duplex Noise IK sessions between peers (docs/session.md).
agent_ferryd_SOURCES += \
	transports/tcp.h transports/tcp_int.h \
	transports/tcp_link.c transports/tcp_accept.c \
	transports/tcp_session.c transports/tcp_send.c transports/tcp_recv.c \
	transports/tcp_full.c transports/tcp_ids.c

# File-drop: sealed bundles on a folder or a medium (docs/formats.md).
agent_ferryd_SOURCES += \
	transports/filedrop.h transports/filedrop_int.h \
	transports/filedrop.c transports/filedrop_export.c \
	transports/filedrop_import.c transports/filedrop_carry.c \
	transports/filedrop_apply.c \
	transports/filedrop_watch.c

# HTTP: sealed bundles over HTTP(S) for peers behind NAT or a proxy
# (docs/http.md): libcurl calls, libmicrohttpd serves.  http_parse.c is
# also in the fuzz target (tests/fuzz/fuzz_http.c).
agent_ferryd_SOURCES += \
	transports/http.h transports/http_int.h transports/http_parse.c \
	transports/http.c transports/http_server.c transports/http_client.c
EXTRA_DIST += docs/http.md

# Loopback: a toy transport whose wire is in process (docs/transports.md,
# "Adding a transport").  Not in the registry and not in ferryd: the
# intake's unit test (tests/unit/intake.mk) builds it.  A real transport
# would instead add its files to agent_ferryd_SOURCES as above and its
# table to transports/registry.c.
LOOPBACK_SOURCES = transports/loopback.c transports/loopback.h
