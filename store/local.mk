# The durable store: the only code that includes db.h.
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = \
	store/store.c store/store.h store/store_int.h \
	store/env.c \
	store/commit.c \
	store/read.c \
	store/record.c \
	store/message.c \
	store/writer.c \
	store/queue.c \
	store/outbound.c \
	store/sneaker.c \
	store/expiry.c \
	store/receipt.c \
	store/spool.c \
	store/tap.c \
	store/logsum.c
STORE_LIBS = store/libstore.a lib/libferrycore.a $(DB_LIBS)
