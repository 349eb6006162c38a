"""The gRPC servicers: parse the request, authorise, call the domain, convert the answer
(`convert`). No SQL and no transactions of their own here: the domain modules own both; a
change a client may retry runs in the transaction `linli_runtime.idempotency.once` opens."""
