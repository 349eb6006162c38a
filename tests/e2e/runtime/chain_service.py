"""Two small real services that model a caller and the service it calls, for the shutdown-order
test: `python -m tests.e2e.runtime.chain_service`, its part chosen by LINLI_SERVICE_NAME (set
by the platform runner from the descriptor's name).

- chain-callee: the runtime's EchoService (sleeps `delay_ms`, as a busy ledger would).
- chain-caller: an EchoService whose every call makes two calls to the callee with its own
  work in between — hold, work, post, as partner-redemption's POS redeem does with
  volunteer-points. A callee gone before the caller has drained fails the second call: the
  redemption that would be left PENDING."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import grpc

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.auth import caller
from linli_runtime.clients import make_channel
from linli_runtime.context import current_request_id
from linli_runtime.logs import configure_logging
from linli_runtime.registry import ServiceDescriptor
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME, echo_app

MODULE = "tests.e2e.runtime.chain_service"
CALLEE = ServiceDescriptor(name="chain-callee", module=MODULE, default_port=0, start_order=10)
CALLER = ServiceDescriptor(name="chain-caller", module=MODULE, default_port=0, start_order=20)


class CallerServicer(echo_pb2_grpc.EchoServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self._callee: echo_pb2_grpc.EchoServiceStub | None = None

    def callee(self) -> echo_pb2_grpc.EchoServiceStub:
        if self._callee is None:  # made on first use, inside the server's event loop
            # Its own client credentials at the issuer, as partner-redemption's.
            channel = make_channel(os.environ[CALLEE.addr_env], token=self.app.credentials(), tls=self.app.grpc_tls)
            self._callee = echo_pb2_grpc.EchoServiceStub(channel)
        return self._callee

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> Any:
        await self.callee().Echo(echo_pb2.EchoRequest(message=f"hold {request.message}"))
        await asyncio.sleep(request.delay_ms / 1000)  # the caller's own work between the two calls
        await self.callee().Echo(echo_pb2.EchoRequest(message=f"post {request.message}", delay_ms=50))
        return echo_pb2.EchoResponse(message=request.message, caller=caller().subject,
                                     request_id=current_request_id() or "")


def caller_app(settings: ServiceSettings) -> ServiceApp:
    app = ServiceApp(CALLER.name, settings)
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, CallerServicer(app), FULL_NAME)
    return app


if __name__ == "__main__":
    settings = ServiceSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    make = caller_app if settings.service_name == CALLER.name else echo_app
    asyncio.run(make(settings).serve())
    sys.exit(0)
