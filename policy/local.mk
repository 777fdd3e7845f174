# policy/: ferry.conf and the decisions made from it (see policy/README.md).
# The only room that includes <ini.h>.
noinst_LIBRARIES += policy/libpolicy.a
policy_libpolicy_a_SOURCES = \
	policy/policy.h policy/policy_int.h \
	policy/config.c \
	policy/acl.c \
	policy/units.c \
	policy/peers.c \
	policy/routes.c \
	policy/bridge.c \
	policy/window.h policy/window.c
policy_libpolicy_a_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS) $(SODIUM_CFLAGS)
# libidentity after libpolicy: [peer NAME] keys are cards
# (identity_card_parse).  libferrycore after both: policy uses the name
# validators, libidentity ferry_strerror.
POLICY_LIBS = policy/libpolicy.a transports/libidentity.a \
	lib/libferrycore.a $(INIH_LIBS) $(SODIUM_LIBS)

dist_man_MANS += docs/ferry.conf.5
