# The Python client (clients/python) against a live ferryd (included from
# tests/local.mk): tests/integration/python_client.sh installs it into a
# venv and runs clients/python/tests/test_live.py.
PYTHON_IT_TESTS = tests/integration/python_client.sh
TESTS += $(PYTHON_IT_TESTS)
EXTRA_DIST += $(PYTHON_IT_TESTS)
