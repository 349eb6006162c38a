"""A bare grpc.aio server with the EchoService and nothing else: the baseline the runtime's
stack is measured against. Prints "READY <port>"; stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import grpc

from linli.devtools.v1 import echo_pb2_grpc
from linli_runtime.testing.echo import BareEchoServicer


async def main() -> None:
    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(BareEchoServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(main())
