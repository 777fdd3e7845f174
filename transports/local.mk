# transports: nothing built here yet (see transports/README.md).
