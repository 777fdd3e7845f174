# unit tests of transports/bundle.c (fragment included from tests/local.mk)
