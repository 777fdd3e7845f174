# libferry: the client library (installed, with ferry.h and ferry.pc), and
# the message model, error codes and frame codec it shares with ferryd.
LIBFERRY_SOURCES = \
	lib/ferry_err.c lib/ferry_err.h \
	lib/ferry_msg.c lib/ferry_msg.h \
	lib/frame.c lib/frame.h lib/be.h \
	lib/util.c lib/util.h \
	lib/client.c lib/ferry.h \
	lib/request.c
# Installed: libferry.so.0 and libferry.a, built by libtool.  Its own
# CFLAGS give its objects their own names (PIC, next to the others).
# Only ferry_* symbols are exported.  -version-info: bump current and
# zero age on an incompatible change of ferry.h (see libtool's "Updating
# version info").
lib_LTLIBRARIES = lib/libferry.la
lib_libferry_la_SOURCES = $(LIBFERRY_SOURCES)
lib_libferry_la_CFLAGS = $(AM_CFLAGS)
lib_libferry_la_LDFLAGS = -version-info 1:0:1 -export-symbols-regex '^ferry_'
include_HEADERS = lib/ferry.h lib/ferry_err.h lib/ferry_msg.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = lib/ferry.pc
# What ferry and the tests link: the same code as a plain static archive,
# not installed, so that no program in the tree is a libtool wrapper
# script.
noinst_LIBRARIES += lib/libferry.a
lib_libferry_a_SOURCES = $(LIBFERRY_SOURCES)
LIBFERRY = lib/libferry.a

# The parts ferryd and the store use, without the client.
noinst_LIBRARIES += lib/libferrycore.a
lib_libferrycore_a_SOURCES = \
	lib/ferry_err.c lib/ferry_err.h \
	lib/ferry_msg.c lib/ferry_msg.h \
	lib/frame.c lib/frame.h lib/be.h \
	lib/util.c lib/util.h
