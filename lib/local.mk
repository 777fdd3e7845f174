# libferry internals shared by every room (error codes, message model).
noinst_LIBRARIES += lib/libferrycore.a
lib_libferrycore_a_SOURCES = \
	lib/ferry_err.c lib/ferry_err.h \
	lib/ferry_msg.c lib/ferry_msg.h
