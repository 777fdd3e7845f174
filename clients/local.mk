# Clients of ferryd in other languages than C.  Nothing is built here:
# clients/python is installed with pip (clients/python/README.md).
EXTRA_DIST += \
	clients/python/ferry.py \
	clients/python/pyproject.toml \
	clients/python/README.md
