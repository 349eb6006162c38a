"""The EchoService servicer (linli.devtools.v1): a probe for the runtime's own tests and the
baseline of the benchmarks. Never mounted by a real service."""

from __future__ import annotations

import asyncio
import sys

import grpc

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.auth import caller, require_scope
from linli_runtime.context import current_request_id
from linli_runtime.errors import InvalidArgument
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings

FULL_NAME = echo_pb2.DESCRIPTOR.services_by_name["EchoService"].full_name


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        if not request.message:
            raise InvalidArgument.field("message", "must not be empty")
        if request.org_path:
            require_scope(request.org_path)
        if request.delay_ms:
            await asyncio.sleep(request.delay_ms / 1000)
        return echo_pb2.EchoResponse(
            message=request.message, caller=caller().subject, request_id=current_request_id() or ""
        )


class BareEchoServicer(echo_pb2_grpc.EchoServiceServicer):
    """The same method with no runtime around it: the benchmark baseline."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        return echo_pb2.EchoResponse(message=request.message)


def echo_app(settings: ServiceSettings) -> ServiceApp:
    app = ServiceApp("echo", settings)
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, EchoServicer(), FULL_NAME)
    return app


if __name__ == "__main__":
    # Run as its own process (graceful-shutdown tests, the local runner's tests, benchmarks):
    # settings from the environment; prints "READY <port>" once serving and "STOPPED" at the end.
    from linli_runtime.logs import configure_logging

    settings = ServiceSettings(service_name="echo")
    configure_logging("echo", settings.log_level, settings.log_json)
    asyncio.run(echo_app(settings).serve(on_ready=lambda port: print(f"READY {port}", flush=True)))
    print("STOPPED", flush=True)
    sys.exit(0)
