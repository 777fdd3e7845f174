# kill -9 during export / import (fragment included from tests/local.mk).
# sneak_kill9.sh: alpha exports to a folder and beta imports from it while
# either agent is killed at random moments (seeded); at the end every
# message reached beta exactly once and nothing is left behind.  It uses
# load_clients (built in agent.mk).  FERRY_TEST_LONG=1 lengthens it.
SNEAK_KILL_IT_TESTS = \
	tests/integration/sneak_kill9.sh
TESTS += $(SNEAK_KILL_IT_TESTS)
EXTRA_DIST += $(SNEAK_KILL_IT_TESTS)
