"""The EchoService servicer (linli.devtools.v1): a probe for the runtime's own tests and the
baseline of the benchmarks. Never mounted by a real service."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import grpc

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.auth import caller, reach
from linli_runtime.context import current_request_id
from linli_runtime.errors import InvalidArgument
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings

FULL_NAME = echo_pb2.DESCRIPTOR.services_by_name["EchoService"].full_name


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    def __init__(self, on_hold: Callable[[str], None] | None = None) -> None:
        # Told the message of each delayed call as its delay begins: a test then knows the server
        # holds the call (gRPC delivers a unary call's headers only with its answer).
        self.on_hold = on_hold

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        if not request.message:
            raise InvalidArgument.field("message", "must not be empty")
        if request.org_path:
            reach(request.org_path)
        if request.delay_ms:
            if self.on_hold is not None:
                self.on_hold(request.message)
            await asyncio.sleep(request.delay_ms / 1000)
        return echo_pb2.EchoResponse(
            message=request.message, caller=caller().subject, request_id=current_request_id() or ""
        )


class BareEchoServicer(echo_pb2_grpc.EchoServiceServicer):
    """The same method with no runtime around it: the benchmark baseline."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        return echo_pb2.EchoResponse(message=request.message)


def echo_app(settings: ServiceSettings, on_hold: Callable[[str], None] | None = None) -> ServiceApp:
    app = ServiceApp("echo", settings)
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, EchoServicer(on_hold), FULL_NAME)
    return app


if __name__ == "__main__":
    # Run as its own process (graceful-shutdown tests, the local runner's tests, benchmarks):
    # settings from the environment; prints "READY <port>" once serving, "HOLDING <message>" as a
    # delayed call's delay begins, and "STOPPED" at the end.
    from linli_runtime.logs import configure_logging

    settings = ServiceSettings(service_name="echo")
    configure_logging("echo", settings.log_level, settings.log_json)
    app = echo_app(settings, on_hold=lambda message: print(f"HOLDING {message}", flush=True))
    asyncio.run(app.serve(on_ready=lambda port: print(f"READY {port}", flush=True)))
    print("STOPPED", flush=True)
    sys.exit(0)
