# agent: nothing built here yet (see agent/README.md).
