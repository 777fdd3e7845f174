# cli: nothing built here yet (see cli/README.md).
