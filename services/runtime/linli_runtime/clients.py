"""Client channels to other services (and for tests and tools).

One long-lived channel per downstream service. Every call gets a deadline (the caller's, or a
default), the caller's credentials (a fixed token, or a source asked on every call — a
service's own `service_token.ClientCredentials`, renewed before it expires), the current
request id and, when the service traces, a CLIENT span whose W3C trace context travels in the
metadata (linli_runtime.tracing); UNAVAILABLE (and only that)
is retried by gRPC's own retry policy, so a retry never repeats a call that may have done
something — non-idempotent writes carry a request id besides.

With `tls` (linli_runtime.grpc_tls: a service passes `app.grpc_tls`) the channel speaks TLS,
trusting the platform's CA alone, and presents the caller's certificate when the server asks
(mTLS). Servers end connections after a while (`grpc_max_connection_age`): the channel then
reconnects, re-resolving the target, so it spreads onto replicas added since.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from linli_runtime.context import new_request_id, request_id_var
from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.tracing import NO_TRACING, Tracing

RETRY_SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{}],  # every method of every service
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}

CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(RETRY_SERVICE_CONFIG)),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


# Where a channel's bearer token comes from: asked on every call (so a renewed token is used at
# once); may be a coroutine function, like `ClientCredentials`.
TokenSource = Callable[[], "str | Awaitable[str | None] | None"]


def target_for(addresses: str) -> str:
    """`host:port` stays as is; a comma-separated list of replicas becomes one `ipv4:` target
    that round_robin balances across."""
    parts = [a.strip() for a in addresses.split(",") if a.strip()]
    if len(parts) == 1:
        return parts[0]
    return "ipv4:" + ",".join(p.replace("localhost", "127.0.0.1") for p in parts)


class _CallDefaults(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
):
    def __init__(self, token: TokenSource, default_timeout: float) -> None:
        self.token = token
        self.default_timeout = default_timeout

    async def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        keys = {k for k, _ in metadata}
        if "x-request-id" not in keys:
            metadata.add("x-request-id", request_id_var.get() or new_request_id())
        token: Any = None
        if "authorization" not in keys:
            token = self.token()
            if inspect.isawaitable(token):
                token = await token
        if token:
            metadata.add("authorization", f"Bearer {token}")
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self.default_timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)


def make_channel(
    addresses: str,
    *,
    token: str | TokenSource | None = None,
    default_timeout: float = 5.0,
    tracing: Tracing = NO_TRACING,
    tls: GrpcTls = PLAINTEXT,
) -> grpc.aio.Channel:
    """A channel to `addresses` (`host:port` or a comma-separated list of replicas), calling
    with `token` (a fixed bearer token or a `TokenSource`), over TLS when `tls` trusts a CA; a
    service passes its `tracing`, so that its calls are spans of the trace they belong to, and
    its `grpc_tls`."""
    token_fn: TokenSource = token if callable(token) else (lambda: token)
    interceptors = [_CallDefaults(token_fn, default_timeout), *tracing.client_interceptors()]
    if tls.trusts:
        return grpc.aio.secure_channel(target_for(addresses), tls.channel_credentials(),
                                       options=[*CHANNEL_OPTIONS, *tls.channel_options(addresses)],
                                       interceptors=interceptors)
    return grpc.aio.insecure_channel(target_for(addresses), options=CHANNEL_OPTIONS, interceptors=interceptors)
