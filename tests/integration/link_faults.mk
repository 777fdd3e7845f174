# link_faults: see the tests listed here (included from tests/local.mk).
