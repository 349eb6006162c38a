"""gRPC servicers: parse the request, check role and scope, call the domain, convert the
answer (`convert.py`). No SQL here: reads call the domain's read functions (which open their
own session); a change is a domain step run by `Api.write` in one transaction, at most once per
request id (`linli_runtime.idempotency.once`)."""
