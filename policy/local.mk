# policy/: ferry.conf and the decisions made from it (see policy/README.md).
# The only room that includes <ini.h>.
noinst_LIBRARIES += policy/libpolicy.a
policy_libpolicy_a_SOURCES = \
	policy/policy.h policy/policy_int.h \
	policy/config.c \
	policy/acl.c \
	policy/units.c
policy_libpolicy_a_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS)
# libferrycore after libpolicy: policy uses the name validators.
POLICY_LIBS = policy/libpolicy.a lib/libferrycore.a $(INIH_LIBS)

dist_man_MANS += docs/ferry.conf.5
