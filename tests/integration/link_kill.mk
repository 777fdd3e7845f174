# link_kill: see the tests listed here (included from tests/local.mk).
