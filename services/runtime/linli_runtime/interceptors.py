"""What the runtime does around every call a service serves: request id, latency metrics and
access log, domain-error → status mapping, authentication. Servicers hold only domain logic.

The request id comes back in the trailers of a unary answer, in the headers of a streamed one.

All four, in this order around the handler (outermost first): request id → observability →
error mapping → authentication → handler. A method's wrapped handler is built once, when its
servicer is mounted (`RuntimeHandlers`, which the generated `add_XServicer_to_server` functions
register into as they would into a server), not looked up per call through a gRPC
interceptor; its metric children are bound once per status code, the call's metadata is read
once, a token verified before is recalled without awaiting anything, and the access log is
skipped outright when it is off (`LINLI_ACCESS_LOG=false`, or the `linli.grpc` logger above
INFO). Why not an interceptor (issue 18, bench.grpc_stack): grpc.aio runs the interceptor chain
as coroutines on every call, and its serving loop waits on one pending future per *registered*
method — every call paid for every method a service has (≈1 µs each: a service of 40 methods,
~40 µs a call). The runtime registers one generic handler instead.

Public methods (health, reflection) get the request id and the error mapping only: no
credential, no metrics, no access log (probes every few seconds would drown both).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing, suppress
from time import perf_counter
from typing import Any, Protocol

import grpc
from sqlalchemy.exc import OperationalError

from linli_runtime.auth import Principal, restricted_refusal
from linli_runtime.context import new_request_id, principal_var, request_id_var
from linli_runtime.error_status import rich_status
from linli_runtime.errors import DomainError, Unauthenticated, Unavailable
from linli_runtime.logs import AccessLog
from linli_runtime.metrics import GRPC_HANDLED, GRPC_LATENCY, fast_counter, fast_observer

log = logging.getLogger("linli.grpc")
access_log = AccessLog(log)

# Methods anyone may call: load balancers and grpcurl need them before they hold a token.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_OK = grpc.StatusCode.OK
REQUEST_ID = "x-request-id"


class CallEnded(asyncio.CancelledError):
    """A streamed response could not be written because the call is over: the client went away
    (or cancelled), or the server is stopping. That is a cancellation, not the handler's error:
    as a CancelledError it passes the error mapping (which maps `Exception`s) and gRPC ends the
    call quietly, as it does when a client cancels while the handler awaits."""


async def _stream(responses: Any, context: grpc.aio.ServicerContext) -> None:
    """Write what a streaming handler produces. `responses` is an async generator (the handler's
    own) or an awaitable (a wrapper that writes itself). The generator is closed here, in the
    call's own task, however the call ends — left to the garbage collector it would be closed
    later in another task, whose context holds none of the call's context variables (issue 16:
    'Token … was created in a different Context')."""
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


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    """`context.abort_with_status(status)`, said as `abort`: the tracing's context wrapper
    (linli_runtime.tracing) sees `abort` and sets the call's span status from it, while
    `abort_with_status` would go to the wrapped context directly. The trailers keep the request
    id (an abort's trailers replace those set before)."""
    rid = request_id_var.get()
    trailers = (*status.trailing_metadata, (REQUEST_ID, rid)) if rid else status.trailing_metadata
    await context.abort(status.code, status.details, trailers)


class Authenticator(Protocol):
    """Turns call metadata into a principal; returns None when the metadata holds no
    credential of its kind (so the next authenticator can try).

    An authenticator may also have a `recall(metadata) -> Principal | None` method: the
    principal it authenticated for this same credential before and still holds valid (no
    await, no I/O), else None — then every authenticator's `authenticate` is awaited in order.
    An authenticator without `recall` that comes first must decline what a later one recalls
    (true of the terminal authenticator: it takes only its own `Terminal` scheme)."""

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal | None: ...


Recall = Callable[[Mapping[str, str]], Principal | None]


class _MethodCall:
    """What the runtime does around each call of one method, with everything that depends only
    on the method worked out once: whether it is public, the roles it opens to restricted
    callers, its metric children by status code."""

    def __init__(self, runtime: RuntimeHandlers, method: str) -> None:
        self.runtime = runtime
        self.method = method
        self.public = method.startswith(PUBLIC_METHOD_PREFIXES)
        self.allowed = runtime.allowed.get(method, frozenset())
        self._metrics: dict[grpc.StatusCode, tuple[Callable[[float], None], Callable[[], None]]] = {}
        if not self.public:
            self._ok = self._children(_OK)

    def _children(self, code: grpc.StatusCode) -> tuple[Callable[[float], None], Callable[[], None]]:
        children = self._metrics.get(code)
        if children is None:
            labels = (self.runtime.service_name, self.method, code.name)
            children = (fast_observer(GRPC_LATENCY.labels(*labels)), fast_counter(GRPC_HANDLED.labels(*labels)))
            self._metrics[code] = children
        return children

    async def run(self, context: grpc.aio.ServicerContext, handle: Callable[[], Awaitable[Any]],
                  streams_out: bool = False) -> Any:
        """Run `handle()` (the servicer's method, or its stream writer) as the call's handler."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if v.__class__ is str}
        # Request id: the caller's (if it is a sane one) or a new one, for logs and events, and
        # echoed to the caller: in the trailers of a call answered once (sent with the status,
        # where headers of their own would cost a send of their own — a tenth of an echo's CPU),
        # in the headers of a streamed answer (which the caller reads before the stream ends).
        rid = metadata.get(REQUEST_ID)
        if rid is None or not (0 < len(rid) <= 128 and rid.isascii() and rid.isprintable()):
            rid = new_request_id()
        rid_token = request_id_var.set(rid)
        try:
            if streams_out:
                await context.send_initial_metadata(((REQUEST_ID, rid),))
            else:
                context.set_trailing_metadata(((REQUEST_ID, rid),))
            if self.public:
                try:
                    return await handle()
                except Exception as error:
                    await self._refuse(context, error)
                    raise  # not reached: _refuse aborts the call
            runtime = self.runtime
            if runtime.draining:  # refused at the door (no access log line): a call never taken
                await _abort(context, rich_status(service_stopping(), runtime.domain))
            runtime.in_flight += 1
            started = perf_counter()
            code = _OK
            try:
                try:
                    principal = runtime.recall(metadata) if runtime.recall is not None else None
                    if principal is None:
                        principal = await self._authenticate(metadata)
                    if principal.restrictions:
                        refusal = restricted_refusal(principal, self.allowed, self.method)
                        if refusal is not None:
                            raise refusal
                    principal_token = principal_var.set(principal)
                    try:
                        return await handle()
                    finally:
                        principal_var.reset(principal_token)
                except Exception as error:
                    await self._refuse(context, error)
                    raise  # not reached: _refuse aborts the call
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                if code == _OK:  # cancelled by the client, or an unmapped failure
                    code = grpc.StatusCode.CANCELLED
                raise
            finally:
                runtime.in_flight -= 1
                if runtime.in_flight == 0 and runtime.idle is not None:
                    runtime.idle.set()
                elapsed = perf_counter() - started
                observe, count = self._ok if code is _OK else self._children(code)
                observe(elapsed)
                count()
                if self.runtime.access_log:
                    access_log(self.method, code.name, elapsed)
        finally:
            request_id_var.reset(rid_token)

    async def _refuse(self, context: grpc.aio.ServicerContext, error: Exception) -> None:
        """The error mapping (called in the `except` block of the call's failure): a domain error
        becomes its status with rich details; an unexpected exception is logged with its stack
        and becomes INTERNAL carrying only the request id (never a stack trace). Always raises:
        gRPC's AbortError, which ends the call with that status."""
        domain = self.runtime.domain
        if isinstance(error, DomainError):
            await _abort(context, rich_status(error, domain))
        if isinstance(error, grpc.aio.AbortError):
            raise error
        if isinstance(error, OperationalError):
            # The database is busy or unreachable: nothing was committed, so the caller may
            # safely retry with the same request id.
            log.warning("database unavailable", extra={"method": self.method, "error": str(error.orig)})
            await _abort(context, rich_status(Unavailable(
                "the database is busy or unreachable; retry with the same request id",
                reason="DATABASE_UNAVAILABLE"), domain))
        log.error("unhandled error", exc_info=error, extra={"method": self.method})
        await context.abort(
            grpc.StatusCode.INTERNAL,
            f"internal error; quote request id {request_id_var.get()} when reporting it",
            ((REQUEST_ID, request_id_var.get() or ""),),
        )

    async def _authenticate(self, metadata: Mapping[str, str]) -> Principal:
        """Every non-public method needs a principal; scope and role checks are the handler's
        (`linli_runtime.auth.authorize`). A principal holding a restricted role is refused (by
        the caller of this) on every method that does not open itself to that role
        (`linli_runtime.auth.allows`)."""
        for authenticator in self.runtime.authenticators:
            principal = await authenticator.authenticate(metadata)
            if principal is not None:
                return principal
        raise Unauthenticated(
            f"{self.method} needs credentials: send 'authorization: Bearer <token>' with an access token "
            "from the platform's issuer (sign in with `linli login`)",
            reason="CREDENTIALS_MISSING",
        )


def service_stopping() -> Unavailable:
    return Unavailable("服务正在停止，未受理本次请求，请重试 / the service is stopping and did not take this call; "
                       "retry it (another replica takes it, or this one once restarted)", reason="SERVICE_STOPPING")


def _wrap(handler: grpc.RpcMethodHandler, call: _MethodCall) -> grpc.RpcMethodHandler:
    """A copy of `handler` whose behaviour runs inside `call.run`.

    Streaming responses use gRPC's reader/writer API (a coroutine that writes) rather than an
    async generator: gRPC abandons a generator at its `yield` when the client goes away while a
    write is pending, and the runtime's exit — resetting context variables, counting the call —
    would then run whenever the garbage collector got to it, in another context. A coroutine
    ends in the call's task."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    run = call.run
    if handler.unary_unary is not None:
        uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await run(context, lambda: uu(request, context))

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> None:
            await run(context, lambda: _stream(us(request, context), context), True)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        su = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            return await run(context, lambda: su(requests, context))

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    ss = handler.stream_stream

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> None:
        await run(context, lambda: _stream(ss(requests, context), context), True)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


class RuntimeHandlers(grpc.GenericRpcHandler):
    """The runtime around every call of the servicers mounted on it (see the module docstring):
    the one generic handler of a service's gRPC server.

    Mount a servicer with its generated function, `add_XServicer_to_server(servicer, handlers)`:
    it registers its methods here as it would on a server, and each is wrapped once. `allowed`:
    full method name → the restricted roles it opens to (`linli_runtime.auth.allows`);
    `access_log`: one log line per call (off: not even the check of the logger's level)."""

    def __init__(self, service: str, authenticators: Sequence[Authenticator],
                 allowed: Mapping[str, frozenset[str]] | None = None, *, access_log: bool = True) -> None:
        self.service_name = service
        self.domain = f"linli.{service}"
        self.authenticators = list(authenticators)
        self.allowed = allowed if allowed is not None else {}
        self.access_log = access_log
        self.recall = _recall(self.authenticators)
        # Full method name → its wrapped handler.
        self._methods: dict[str, grpc.RpcMethodHandler] = {}
        # Generic handlers mounted (methods not registered by name), consulted when no method
        # matches by name; each copy is made once: method → (the handler, its wrapped copy).
        self._generic: list[grpc.GenericRpcHandler] = []
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}
        # Shutdown (`drain`): the calls running now (not counting public ones: a health Watch
        # lasts as long as its prober), whether new ones are refused, and the event set once
        # the last running call ends.
        self.in_flight = 0
        self.draining = False
        self.idle: asyncio.Event | None = None

    async def drain(self, timeout: float) -> None:
        """Refuse every new call (UNAVAILABLE, reason SERVICE_STOPPING: a client may retry it
        elsewhere) and wait up to `timeout` seconds for the calls in flight to end. The server
        keeps serving meanwhile, so that a new call is answered by this refusal: once gRPC's own
        shutdown starts, a call it has received but not yet handed to the servicer ends CANCELLED
        (grpc/grpc#41785), which no client retries, and under load that was a real window."""
        self.draining = True
        if self.in_flight:
            self.idle = asyncio.Event()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), timeout)

    # -- what the generated add_XServicer_to_server functions call -----------------------------

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        for name, handler in method_handlers.items():
            method = f"/{service_name}/{name}"
            self._methods[method] = _wrap(handler, _MethodCall(self, method))

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        # The generated code registers each service both ways; by name wins (as on a server).
        self._generic.extend(generic_rpc_handlers)

    # -- grpc.GenericRpcHandler --------------------------------------------------------------

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        wrapped = self._methods.get(method)
        if wrapped is not None:
            return wrapped
        for generic in self._generic:
            handler = generic.service(handler_call_details)
            if handler is not None:
                known = self._wrapped.get(method)
                if known is None or known[0] is not handler:
                    known = (handler, _wrap(handler, _MethodCall(self, method)))
                    self._wrapped[method] = known
                return known[1]
        return None


def _recall(authenticators: Sequence[Authenticator]) -> Recall | None:
    """One function asking each authenticator's `recall` in turn (see `Authenticator`), or None
    when none has one."""
    recalls: list[Recall] = [r for r in (getattr(a, "recall", None) for a in authenticators) if r is not None]
    if not recalls:
        return None
    if len(recalls) == 1:
        return recalls[0]

    def recall(metadata: Mapping[str, str]) -> Principal | None:
        for each in recalls:
            principal = each(metadata)
            if principal is not None:
                return principal
        return None

    return recall
