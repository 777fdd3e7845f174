# docs: nothing built here yet (see docs/README.md).
