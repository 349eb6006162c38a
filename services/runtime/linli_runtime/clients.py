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

A TLS channel follows its files (`RenewingChannel`): cert-manager renews a mounted certificate
in place, so at most every `CERTIFICATE_CHECK_SECONDS` a call looks at the certificate, key and
CA files (modification time and size) and, when they changed, the calls from then on go through
a new connection made with them; the old one finishes its calls in flight and closes. A
long-lived service channel so never presents an expired certificate, and nobody restarts pods
for it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from linli_runtime.context import new_request_id, request_id_var
from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.tracing import NO_TRACING, Tracing

log = logging.getLogger("linli.clients")

# How often, at most, a TLS channel looks whether its certificate files changed (a stat of each
# per look, on the calling path): cert-manager renews weeks before expiry, a minute is prompt.
CERTIFICATE_CHECK_SECONDS = 60.0
# How long the connection made with the previous certificate may finish its calls in flight.
RETIRED_CHANNEL_GRACE = 30.0

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


class _CallDefaults:
    """Request id, bearer token and default deadline on every call. One object per kind of call
    (`_UnaryDefaults`, `_StreamDefaults`): grpc.aio files an interceptor under the first kind it
    implements only (an if/elif over the kinds), so one implementing both never saw a
    server-streaming call, which then went out without its token."""

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


class _UnaryDefaults(_CallDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)


class _StreamDefaults(_CallDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)


class _FollowingCall:
    """A stub's multi-callable on a RenewingChannel: bound, at each call, to the channel's
    current connection (stubs are made once, the connection changes under them)."""

    def __init__(self, owner: RenewingChannel, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.owner = owner
        self.kind = kind
        self.args = args
        self.kwargs = kwargs
        self._bound: tuple[grpc.aio.Channel, Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        channel = self.owner.current()
        if self._bound is None or self._bound[0] is not channel:
            self._bound = (channel, getattr(channel, self.kind)(*self.args, **self.kwargs))
        return self._bound[1](*args, **kwargs)


class RenewingChannel(grpc.aio.Channel):
    """A channel made again by `build` when `files` (its certificate, key and CA) change on disk,
    looked at most every `check_seconds` (see the module docstring). Files that cannot be read
    or made into credentials at that moment (a renewal half-written) leave the current
    connection in use; the next look tries again."""

    def __init__(self, build: Callable[[], grpc.aio.Channel], files: Sequence[str], *,
                 check_seconds: float = CERTIFICATE_CHECK_SECONDS, grace: float = RETIRED_CHANNEL_GRACE) -> None:
        self._build = build
        self._files = [Path(f) for f in files if f]
        self._check_seconds = check_seconds
        self._grace = grace
        self._stamp = self._read_stamp()
        self._channel = build()
        self._looked_at = time.monotonic()
        self._closing: set[asyncio.Task[None]] = set()

    def _read_stamp(self) -> tuple[tuple[int, int], ...]:
        return tuple((st.st_mtime_ns, st.st_size) for st in (f.stat() for f in self._files))

    def current(self) -> grpc.aio.Channel:
        """The connection calls go through now, made again first if the files changed."""
        now = time.monotonic()
        if now - self._looked_at < self._check_seconds:
            return self._channel
        self._looked_at = now
        try:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return self._channel
            fresh = self._build()
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("certificate files unreadable; the channel keeps its connection", extra={"error": repr(exc)})
            return self._channel
        retired, self._channel, self._stamp = self._channel, fresh, stamp
        log.info("certificate files changed: new calls use a connection made with them",
                 extra={"files": [str(f) for f in self._files]})
        self._retire(retired)
        return self._channel

    def _retire(self, channel: grpc.aio.Channel) -> None:
        try:
            task = asyncio.get_running_loop().create_task(channel.close(grace=self._grace))
        except RuntimeError:  # no loop running (a synchronous caller): closed with the channel
            task = None
        if task is not None:
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _FollowingCall(self, "unary_unary", args, kwargs)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _FollowingCall(self, "unary_stream", args, kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _FollowingCall(self, "stream_unary", args, kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _FollowingCall(self, "stream_stream", args, kwargs)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.current().get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self.current().channel_ready()

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def __aenter__(self) -> RenewingChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(None)


def make_channel(
    addresses: str,
    *,
    token: str | TokenSource | None = None,
    default_timeout: float = 5.0,
    tracing: Tracing = NO_TRACING,
    tls: GrpcTls = PLAINTEXT,
    certificate_check_seconds: float = CERTIFICATE_CHECK_SECONDS,
) -> grpc.aio.Channel:
    """A channel to `addresses` (`host:port` or a comma-separated list of replicas), calling
    with `token` (a fixed bearer token or a `TokenSource`), over TLS when `tls` trusts a CA (a
    `RenewingChannel`, following its certificate files); a service passes its `tracing`, so
    that its calls are spans of the trace they belong to, and its `grpc_tls`."""
    token_fn: TokenSource = token if callable(token) else (lambda: token)
    interceptors = [_UnaryDefaults(token_fn, default_timeout), _StreamDefaults(token_fn, default_timeout),
                    *tracing.client_interceptors()]
    if tls.trusts:
        def build() -> grpc.aio.Channel:
            return grpc.aio.secure_channel(target_for(addresses), tls.channel_credentials(),
                                           options=[*CHANNEL_OPTIONS, *tls.channel_options(addresses)],
                                           interceptors=interceptors)

        return RenewingChannel(build, [tls.cert_file, tls.key_file, tls.ca_file],
                               check_seconds=certificate_check_seconds)
    return grpc.aio.insecure_channel(target_for(addresses), options=CHANNEL_OPTIONS, interceptors=interceptors)
