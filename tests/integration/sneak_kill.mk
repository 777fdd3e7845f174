# kill -9 during export / import (fragment included from tests/local.mk)
