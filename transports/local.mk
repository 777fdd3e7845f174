# transports/: hop crypto and transports (see transports/README.md).
