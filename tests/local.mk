# Tests: CUnit unit tests, integration and fault tests, fuzz targets.
include tests/fault/local.mk
