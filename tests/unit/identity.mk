# unit tests of identity (fragment included from tests/local.mk)
