"""Server reflection (what grpcurl and grpc-requests use) through the runtime's interceptors,
with grpc_reflection's own client (issue 16, defect 10).

volunteer-points logged `ValueError: <Token …> was created in a different Context` from the
request-id interceptor when a reflection stream was dropped while the server was writing an
answer: gRPC abandoned the interceptor's response generator at its `yield`, and the garbage
collector closed it later in another task, whose context never held the request id."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from linli_identity.testing import TestIssuer

from linli_runtime.processes import NatsServer
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME, echo_app
from linli_runtime.testing.waiting import wait_until

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@pytest.fixture
async def app(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[ServiceApp]:
    settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                               nats_url=nats_server.url)
    app = issuer.trust(echo_app(settings))
    await app.start()
    yield app
    await app.stop(grace=1)


def problems_in(caplog: pytest.LogCaptureFixture) -> str:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    return "\n".join(f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in bad)


async def settle() -> None:
    """Let the loop run what finalising abandoned generators schedules (their aclose() tasks,
    then the 'exception never retrieved' report of a task that failed): a few turns, with the
    garbage collector run in each."""
    for _ in range(10):
        gc.collect()
        await asyncio.sleep(0)


def browse(address: str) -> tuple[list[str], list[str]]:
    """What grpcurl's `list` and `describe` do: services, then one service's methods — over one
    reflection stream, which the client then drops by closing the channel."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        echo = database.FindFileContainingSymbol(FULL_NAME)
        methods = [m.name for s in echo.service for m in s.method]
    return services, methods


async def test_browsing_with_the_reflection_client_logs_no_error(
    app: ServiceApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="grpc._cython.cygrpc")
    for _ in range(3):
        services, methods = await asyncio.to_thread(browse, f"127.0.0.1:{app.port}")
        assert FULL_NAME in services and "grpc.health.v1.Health" in services
        assert methods == ["Echo"]
    await settle()
    assert not problems_in(caplog)


class Flood:
    """A reflection client that asks many questions on one stream and does not read the
    answers, so the server's writes fill the stream's flow-control window and block — then
    drops the stream, as a killed grpcurl or a client on a vanished network does. Each question
    carries 8 KB of `host` (which the server ignores), so that the questions, too, wait in
    flow control: the client is asked for the next one only as the server reads, and the count
    stops when the server stops reading."""

    def __init__(self, address: str, questions: int = 20_000) -> None:
        self.channel = grpc.insecure_channel(address)
        self.questions = questions
        self.asked = 0
        self._seen = (-1, 0.0)
        self._lock = threading.Lock()

    def _requests(self) -> Iterator[reflection_pb2.ServerReflectionRequest]:
        for _ in range(self.questions):
            with self._lock:
                self.asked += 1
            yield reflection_pb2.ServerReflectionRequest(host="x" * 8192, file_containing_symbol=FULL_NAME)

    def start(self) -> None:
        self.call = reflection_pb2_grpc.ServerReflectionStub(self.channel).ServerReflectionInfo(self._requests())
        next(self.call)  # the server is answering

    def stalled(self) -> bool:
        """The server stopped taking questions (it waits to write an answer): the number asked
        has not moved for half a second although most are still unasked."""
        with self._lock:
            asked = self.asked
        if asked != self._seen[0]:
            self._seen = (asked, time.monotonic())
            return False
        return asked < self.questions and time.monotonic() - self._seen[1] > 0.5

    def drop(self) -> None:
        self.call.cancel()
        self.channel.close()


async def test_a_reflection_stream_dropped_while_the_server_writes_ends_without_a_traceback(
    app: ServiceApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="grpc._cython.cygrpc")
    flood = Flood(f"127.0.0.1:{app.port}")
    await asyncio.to_thread(flood.start)
    await wait_until(flood.stalled, what="the server to block writing answers nobody reads")
    await asyncio.to_thread(flood.drop)
    await wait_until(lambda: any(REFLECTION in r.getMessage() and "cancelled" in r.getMessage()
                                 for r in caplog.records), what="the server to see the stream cancelled")
    await settle()
    assert not problems_in(caplog)
    # The server still answers reflection afterwards.
    services, _ = await asyncio.to_thread(browse, f"127.0.0.1:{app.port}")
    assert FULL_NAME in services


async def test_a_health_watch_streams_through_the_interceptors_and_ends_cleanly(
    app: ServiceApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The other streaming method every service serves (server streaming): it answers, and a
    client that stops watching leaves no error behind."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    caplog.set_level(logging.DEBUG, logger="grpc._cython.cygrpc")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=FULL_NAME))
        first = await call.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        assert ("x-request-id" in dict(await call.initial_metadata())), "the request-id scope ran"
        call.cancel()
    await wait_until(lambda: any("Watch" in r.getMessage() and "cancelled" in r.getMessage()
                                 for r in caplog.records), what="the server to see the watch cancelled")
    await settle()
    assert not problems_in(caplog)
