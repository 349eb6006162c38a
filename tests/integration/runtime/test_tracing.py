"""Tracing through the runtime (linli_runtime.tracing) with real servers, real NATS and both
databases: calls are SERVER spans with their final status (health checks untraced), streamed calls
still stream, statements outside traced work start no trace, and an event's publish and its
handling join the trace of the work that wrote it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from linli_identity.testing import TestIssuer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import func, select

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.db import Database
from linli_runtime.events import ConsumerSpec, EventConsumer, OutboxRelay
from linli_runtime.events.bus import EventBus
from linli_runtime.events.tables import DEAD_LETTERS
from linli_runtime.processes import NatsServer
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME, echo_app
from linli_runtime.testing.waiting import wait_until
from linli_runtime.tracing import Tracing, exporting_to
from tests.integration.runtime.eventkit import Recorder, Topic, applied_counts, create_test_tables, write_events

ECHO = f"/{FULL_NAME}/Echo"


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    with exporting_to(InMemorySpanExporter()) as exporter:
        yield exporter


@pytest.fixture
async def app(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[ServiceApp]:
    settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                               nats_url=nats_server.url)
    app = issuer.trust(echo_app(settings))
    await app.start()
    yield app
    await app.stop(grace=1)


def server_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def test_calls_are_server_spans_with_their_final_status_and_health_checks_are_untraced(
    app: ServiceApp, spans: InMemorySpanExporter, issuer: TestIssuer
) -> None:
    assert app.tracing.enabled
    token = issuer.issue("tester", role="platform_admin")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        echo = echo_pb2_grpc.EchoServiceStub(channel)
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        await echo.Echo(echo_pb2.EchoRequest(message="hi"), metadata=(("authorization", f"Bearer {token}"),))
        with pytest.raises(grpc.aio.AioRpcError):
            await echo.Echo(echo_pb2.EchoRequest(message=""), metadata=(("authorization", f"Bearer {token}"),))
        with pytest.raises(grpc.aio.AioRpcError):
            await echo.Echo(echo_pb2.EchoRequest(message="who am I"))
    # A server span ends once its answer is sent: the client may read the last answer first.
    await wait_until(lambda: len(server_spans(spans)) >= 3, what="the three calls' server spans to end")
    calls = server_spans(spans)
    assert [s.name for s in calls] == [ECHO, ECHO, ECHO], "one span per call; the health check has none"
    codes = [(s.attributes or {})["rpc.grpc.status_code"] for s in calls]
    assert codes == [grpc.StatusCode.OK.value[0], grpc.StatusCode.INVALID_ARGUMENT.value[0],
                     grpc.StatusCode.UNAUTHENTICATED.value[0]]
    # The caller's mistakes are not the server's errors (OpenTelemetry's gRPC conventions): the
    # span's status stays unset, its status code attribute says what the caller was told.
    assert [s.status.status_code for s in calls] == [StatusCode.UNSET] * 3
    assert all(s.resource.attributes["service.name"] == "echo" for s in calls)


async def test_a_streamed_call_streams_and_is_one_span(app: ServiceApp, spans: InMemorySpanExporter) -> None:
    # Two questions on ONE stream (grpcio-reflection's descriptor database opens a stream per
    # question, so it would make two spans and say nothing about a stream of several messages).
    questions = [reflection_pb2.ServerReflectionRequest(list_services=""),
                 reflection_pb2.ServerReflectionRequest(file_containing_symbol=FULL_NAME)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = [answer async for answer in stub.ServerReflectionInfo(iter(questions))]
    assert len(answers) == 2
    assert FULL_NAME in [s.name for s in answers[0].list_services_response.service]
    await wait_until(lambda: bool(server_spans(spans)), what="the reflection stream's span to end")
    assert [s.name for s in server_spans(spans)] == ["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]


async def test_statements_outside_traced_work_start_no_trace(app: ServiceApp, spans: InMemorySpanExporter) -> None:
    await app.relay.backlog()  # what the relay and the gauges read, every few seconds
    await app.relay.publish_batch()
    assert spans.get_finished_spans() == ()


async def test_an_event_joins_the_trace_of_the_work_that_wrote_it(
    db: Database, bus: EventBus, topic: Topic, spans: InMemorySpanExporter
) -> None:
    await create_test_tables(db)
    tracing = Tracing.from_settings("producer", ServiceSettings())
    for engine in db.engines:
        tracing.instrument_engine(engine)
    relay = OutboxRelay(db, bus, service="producer", poll_interval=0.05, tracing=tracing)
    recorder = Recorder(fail_with={"poison": ValueError("cannot apply this")})
    spec = ConsumerSpec(name="traced", stream=topic.spec.name, subjects=[f"{topic.root}.>"], handler=recorder,
                        max_deliver=1, ack_wait=1.0)
    consumer = EventConsumer(spec, db, bus, tracing=Tracing.from_settings("consumer", ServiceSettings()))
    with tracing.tracer.start_as_current_span("the call") as call:
        [traced] = await write_events(db, topic, ["traced"])
    [untraced, poison] = await write_events(db, topic, ["untraced", "poison"])
    relay.start()
    consumer.start()
    try:
        await wait_until(lambda: _settled(db), what="two events applied and the poison dead-lettered")
    finally:
        await consumer.stop()
        await relay.stop(flush_timeout=1.0)
    finished = list(spans.get_finished_spans())

    def about(event_id: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
        """The event's publish span, and its handling's (more than one when its batch ran again
        without an event that failed: a handler may run twice, its changes commit once)."""
        mine = [s for s in finished if (s.attributes or {}).get("messaging.message.id") == event_id]
        [publish] = [s for s in mine if s.kind == SpanKind.PRODUCER]
        handled = [s for s in mine if s.kind == SpanKind.CONSUMER]
        assert handled and all([link.context.span_id for link in s.links] == [publish.context.span_id]
                               for s in handled), "each handling links to the publish"
        return publish, handled

    # Written inside a span: the publish and the handling are its children, in its trace.
    publish, handled = about(traced)
    call_context = call.get_span_context()
    for span in (publish, *handled):
        assert span.context.trace_id == call_context.trace_id
        assert span.parent is not None and span.parent.span_id == call_context.span_id
    assert publish.resource.attributes["service.name"] == "producer"
    assert {s.resource.attributes["service.name"] for s in handled} == {"consumer"}
    assert any(s.kind == SpanKind.CLIENT and s.parent is not None and s.parent.span_id == call_context.span_id
               for s in finished), "the outbox write is a statement of the call"
    # Written outside any span: no trace context to join; its publish starts a trace of its own.
    publish, handled = about(untraced)
    assert publish.parent is None and all(s.parent is None for s in handled)
    # A handler that fails: its span says so.
    _, handled = about(poison)
    assert all(s.status.status_code == StatusCode.ERROR for s in handled)
    assert all(any(e.name == "exception" for e in s.events) for s in handled)


async def _settled(db: Database) -> bool:
    async with db.engine.connect() as conn:
        dead = (await conn.execute(select(func.count()).select_from(DEAD_LETTERS))).scalar_one()
    return await applied_counts(db) == {"traced": 1, "untraced": 1} and dead == 1


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver on loopback (what a Collector, Jaeger or Tempo listens with)."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(self, request: trace_service_pb2.ExportTraceServiceRequest,
                     context: grpc.aio.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[str, str]]:
        """(service.name, span name) of everything received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                found += [(attributes["service.name"], span.name)
                          for scope in resource_spans.scope_spans for span in scope.spans]
        return found


async def test_with_an_otlp_endpoint_a_service_sends_its_spans_there(
    tmp_path: Path, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch, issuer: TestIssuer
) -> None:
    receiver = Receiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                                   nats_url=nats_server.url)
        app = issuer.trust(echo_app(settings))
        await app.start()
        try:
            token = issuer.issue("tester", role="platform_admin")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                await echo_pb2_grpc.EchoServiceStub(channel).Echo(
                    echo_pb2.EchoRequest(message="hi"), metadata=(("authorization", f"Bearer {token}"),))
        finally:
            await app.stop(grace=1)  # exports what the batch holds
        assert ("echo", ECHO) in receiver.spans()
    finally:
        await server.stop(None)
