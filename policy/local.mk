# policy/: ferry.conf and decisions (see policy/README.md).
