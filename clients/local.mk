# Clients of ferryd in other languages than C.  Nothing is built here:
# clients/python is installed with pip (clients/python/README.md) and
# tested by tests/integration/python_client.sh.
EXTRA_DIST += \
	clients/python/ferry.py \
	clients/python/pyproject.toml \
	clients/python/README.md \
	clients/python/tests/test_live.py
