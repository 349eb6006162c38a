"""Server interceptors: request id, access log and latency metrics, domain-error → status
mapping, authentication. Servicers hold only domain logic.

Each interceptor is a `scope` (an async context manager) around the handler, so one
definition serves unary and streaming methods alike. Order, outermost first:
request id → observability → error mapping → authentication → handler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Any, Protocol

import grpc
from sqlalchemy.exc import OperationalError

from linli_runtime.auth import Principal, restricted_refusal
from linli_runtime.context import new_request_id, principal_var, request_id_var
from linli_runtime.error_status import rich_status
from linli_runtime.errors import DomainError, Unauthenticated, Unavailable
from linli_runtime.metrics import GRPC_HANDLED, GRPC_LATENCY

log = logging.getLogger("linli.grpc")

# Methods anyone may call: load balancers and grpcurl need them before they hold a token.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

ContextFactory = Callable[[str, grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


class CallEnded(asyncio.CancelledError):
    """A streamed response could not be written because the call is over: the client went away
    (or cancelled), or the server is stopping. That is a cancellation, not the handler's error:
    as a CancelledError it passes the error mapping (which maps `Exception`s) and gRPC ends the
    call quietly, as it does when a client cancels while the handler awaits."""


async def _stream(responses: Any, context: grpc.aio.ServicerContext) -> None:
    """Write what a streaming handler produces. `responses` is an async generator (the handler's
    own) or an awaitable (an inner interceptor's wrapper, which writes itself). The generator is
    closed here, in the call's own task, however the call ends — left to the garbage collector
    it would be closed later in another task, whose context holds none of the call's context
    variables (issue 16: 'Token … was created in a different Context')."""
    if inspect.isawaitable(responses):
        await responses
        return
    async with aclosing(responses):
        async for item in responses:
            try:
                await context.write(item)
            except grpc.aio.AbortError:
                raise
            except grpc.aio.BaseError as error:
                raise CallEnded(f"the response stream was closed: {error}") from error


def _wrap(handler: grpc.RpcMethodHandler, method: str, scope: ContextFactory) -> grpc.RpcMethodHandler:
    """A copy of `handler` whose behaviour runs inside `scope(method, context)`.

    Streaming responses use gRPC's reader/writer API (a coroutine that writes) rather than an
    async generator: gRPC abandons a generator at its `yield` when the client goes away while a
    write is pending, and the scope's exit — resetting context variables, logging the call —
    would then run whenever the garbage collector got to it, in another context. A coroutine
    ends in the call's task, scope and all."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with scope(method, context):
                return await uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> None:
            async with scope(method, context):
                await _stream(us(request, context), context)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        su = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async with scope(method, context):
                return await su(requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    ss = handler.stream_stream

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> None:
        async with scope(method, context):
            await _stream(ss(requests, context), context)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


class _ScopeInterceptor(grpc.aio.ServerInterceptor):
    """Base: wrap every (or every non-public) method's handler in `self.scope`."""

    applies_to_public_methods = True

    def scope(self, method: str, context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or (
            not self.applies_to_public_methods and method.startswith(PUBLIC_METHOD_PREFIXES)
        ):
            return handler
        return _wrap(handler, method, self.scope)


class RequestIdInterceptor(_ScopeInterceptor):
    """Takes `x-request-id` from the caller (or makes one), puts it in a contextvar for logs
    and events, and echoes it in the response headers."""

    @asynccontextmanager
    async def scope(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        md = _metadata(context)
        rid = md.get("x-request-id", "")
        if not (0 < len(rid) <= 128 and rid.isascii() and rid.isprintable()):
            rid = new_request_id()
        rid_token = request_id_var.set(rid)
        try:
            await context.send_initial_metadata((("x-request-id", rid),))
            yield
        finally:
            request_id_var.reset(rid_token)


class ObservabilityInterceptor(_ScopeInterceptor):
    """One access-log line and one latency observation per call, labelled by final status."""

    applies_to_public_methods = False  # health probes every few seconds would drown the log

    def __init__(self, service: str) -> None:
        self.service = service

    @asynccontextmanager
    async def scope(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            if code == grpc.StatusCode.OK:  # cancelled by the client, or an unmapped failure
                code = grpc.StatusCode.CANCELLED
            raise
        finally:
            elapsed = time.perf_counter() - started
            GRPC_LATENCY.labels(self.service, method, code.name).observe(elapsed)
            GRPC_HANDLED.labels(self.service, method, code.name).inc()
            log.info(
                "rpc",
                extra={"method": method, "code": code.name, "duration_ms": round(elapsed * 1000, 3)},
            )


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    """`context.abort_with_status(status)`, said as `abort`: the tracing's context wrapper
    (linli_runtime.tracing) sees `abort` and sets the call's span status from it, while
    `abort_with_status` would go to the wrapped context directly."""
    await context.abort(status.code, status.details, status.trailing_metadata)


class ErrorMappingInterceptor(_ScopeInterceptor):
    """Domain errors become their status with rich details; an unexpected exception is logged
    with its stack and becomes INTERNAL carrying only the request id (never a stack trace)."""

    def __init__(self, service: str) -> None:
        self.domain = f"linli.{service}"

    @asynccontextmanager
    async def scope(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        try:
            yield
        except DomainError as error:
            await _abort(context, rich_status(error, self.domain))
        except grpc.aio.AbortError:
            raise
        except OperationalError as error:
            # The database is busy or unreachable: nothing was committed, so the caller may
            # safely retry with the same request id.
            log.warning("database unavailable", extra={"method": method, "error": str(error.orig)})
            await _abort(context, rich_status(Unavailable(
                "the database is busy or unreachable; retry with the same request id",
                reason="DATABASE_UNAVAILABLE"), self.domain))
        except Exception:
            log.exception("unhandled error", extra={"method": method})
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"internal error; quote request id {request_id_var.get()} when reporting it",
            )


class Authenticator(Protocol):
    """Turns call metadata into a principal; returns None when the metadata holds no
    credential of its kind (so the next authenticator can try)."""

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal | None: ...


class AuthenticationInterceptor(_ScopeInterceptor):
    """Every non-public method needs a principal; scope and role checks are the handler's
    (see `linli_runtime.auth.authorize`). A principal holding a restricted role is refused here
    on every method that does not open itself to that role (`allowed`: full method name →
    roles, from `linli_runtime.auth.allows`)."""

    applies_to_public_methods = False

    def __init__(self, authenticators: Sequence[Authenticator],
                 allowed: Mapping[str, frozenset[str]] | None = None) -> None:
        self.authenticators = list(authenticators)
        self.allowed = allowed if allowed is not None else {}

    @asynccontextmanager
    async def scope(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        md = _metadata(context)
        principal = None
        for authenticator in self.authenticators:
            principal = await authenticator.authenticate(md)
            if principal is not None:
                break
        if principal is None:
            raise Unauthenticated(
                f"{method} needs credentials: send 'authorization: Bearer <token>' with an access token "
                "from the platform's issuer (sign in with `linli login`)",
                reason="CREDENTIALS_MISSING",
            )
        refusal = restricted_refusal(principal, self.allowed.get(method, frozenset()), method)
        if refusal is not None:
            raise refusal
        token = principal_var.set(principal)
        try:
            yield
        finally:
            principal_var.reset(token)
