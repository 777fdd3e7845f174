# policy: nothing built here yet (see policy/README.md).
