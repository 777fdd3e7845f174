# unit tests of policy (fragment included from tests/local.mk)
