"""gRPC servicers: validate the request, check role and scope, then run the domain change in
one transaction (at most once per request id)."""
