# unit tests of store/sneaker.c (fragment included from tests/local.mk)
