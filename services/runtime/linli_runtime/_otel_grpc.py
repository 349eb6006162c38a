"""The OpenTelemetry gRPC instrumentation's aio server interceptor, fitted to the runtime's.

It goes first in the server's interceptors, so that its span covers authentication and the error
mapping. What it wraps is then the runtime's interceptors' handler, which writes a streamed
response itself (reader/writer style, `interceptors._wrap`: a coroutine, not an async generator),
so a streaming call is awaited here rather than iterated. Unary calls are the instrumentation's
own code. (Pinned in constraints.txt; tests/integration/runtime/test_tracing.py streams through it.)
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry.instrumentation.grpc._aio_server import (
    OpenTelemetryAioServerInterceptor,
    _OpenTelemetryAioServicerContext,
)


class ServerSpans(OpenTelemetryAioServerInterceptor):  # type: ignore[misc]
    def _intercept_aio_server_stream(self, behavior: Any, handler_call_details: Any) -> Any:
        async def _stream_interceptor(request_or_iterator: Any, context: Any) -> None:
            with self._set_remote_context(context), self._start_span(  # type: ignore[no-untyped-call]
                handler_call_details, context, set_status_on_exception=False
            ) as span:
                traced = _OpenTelemetryAioServicerContext(context, span)  # type: ignore[no-untyped-call]
                try:
                    result = behavior(request_or_iterator, traced)
                    if inspect.isawaitable(result):
                        await result
                    else:  # an async generator: a handler no runtime interceptor wrapped
                        async for response in result:
                            await traced.write(response)
                except Exception as error:
                    if type(error) is not Exception:  # as the instrumentation: aborts set the status
                        span.record_exception(error)
                    raise

        return _stream_interceptor
