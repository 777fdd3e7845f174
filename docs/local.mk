# Documentation shipped in the tarball.
EXTRA_DIST += docs/store.md docs/protocol.md docs/agent.md docs/ferryd.service \
	docs/session.md docs/transports.md docs/routing.md docs/groups.md docs/bridge.md \
	agent/README.md \
	transports/README.md \
	policy/README.md cli/README.md
