# libferry: the client library (installed, with ferry.h and ferry.pc), and
# the message model, error codes and frame codec it shares with ferryd.
lib_LIBRARIES = lib/libferry.a
lib_libferry_a_SOURCES = \
	lib/ferry_err.c lib/ferry_err.h \
	lib/ferry_msg.c lib/ferry_msg.h \
	lib/frame.c lib/frame.h lib/be.h \
	lib/util.c lib/util.h \
	lib/client.c lib/ferry.h \
	lib/request.c
include_HEADERS = lib/ferry.h lib/ferry_err.h lib/ferry_msg.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = lib/ferry.pc
LIBFERRY = lib/libferry.a

# The parts ferryd and the store use, without the client.
noinst_LIBRARIES += lib/libferrycore.a
lib_libferrycore_a_SOURCES = \
	lib/ferry_err.c lib/ferry_err.h \
	lib/ferry_msg.c lib/ferry_msg.h \
	lib/frame.c lib/frame.h lib/be.h \
	lib/util.c lib/util.h
