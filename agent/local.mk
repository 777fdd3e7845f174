# ferryd, the agent.
# In bindir, not sbindir: a user running their own node (the README)
# finds it on a default PATH; Debian's PATH for users has no sbin.
bin_PROGRAMS += agent/ferryd
agent_ferryd_SOURCES = \
	agent/main.c agent/agent.h \
	agent/control.c \
	agent/requests.c agent/requests_int.h \
	agent/requests_job.c agent/requests_msg.c agent/requests_admin.c \
	agent/notify.c \
	agent/service.c \
	agent/sweep.c \
	agent/jobs.c agent/jobs.h \
	agent/intake.c agent/intake.h \
	agent/engine.c agent/engine.h \
	agent/split.c agent/split.h \
	agent/msgid.c agent/msgid.h \
	agent/carry.c agent/carry.h \
	agent/bridge.c agent/bridge.h \
	agent/seal.c agent/seal.h \
	agent/sneak_req.c \
	agent/scope.c \
	agent/metrics.c agent/metrics_text.c agent/metrics.h \
	agent/log.c agent/log.h
agent_ferryd_CPPFLAGS = $(AM_CPPFLAGS) $(EVENT_CFLAGS) $(SODIUM_CFLAGS) \
	$(INIH_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS) $(NATS_CFLAGS)
agent_ferryd_LDADD = $(POLICY_LIBS) $(BUNDLE_LIBS) $(NOISE_LIBS) $(HOP_LIBS) \
	$(IDENTITY_LIBS) $(STORE_LIBS) \
	$(EVENT_LIBS) $(SODIUM_LIBS) $(CURL_LIBS) $(MHD_LIBS) $(NATS_LIBS)
# sd_notify(3), in agent/service.c only.
agent_ferryd_CPPFLAGS += $(SYSTEMD_CFLAGS)
agent_ferryd_LDADD += $(SYSTEMD_LIBS)
EXTRA_DIST += agent/README.md
dist_man_MANS += docs/ferryd.8
