# bundle interop with Python (fragment included from tests/local.mk)
