"""identity's gRPC servicers (linli.identity.v1): parse, authorise, call the domain, convert."""
