"""One POS redemption is one trace (issue 15, item 1 and its acceptance line): the terminal's
Redeem at partner-redemption, the hold placed at volunteer-points, the relay's publish of
`redemption.redemption.committed` over NATS, and the consumers applying it: volunteer-points'
(posting the hold) and notification's — real servers on loopback, real nats-server, SQLite and
PostgreSQL, spans caught by an in-memory exporter (linli_runtime.tracing.exporting_to)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from linli.redemption.v1 import pos_pb2 as pb
from linli_runtime.clock import ManualClock
from linli_runtime.processes import EmbeddedPostgres, NatsServer
from linli_runtime.testing.waiting import wait_until
from linli_runtime.tracing import exporting_to

from .conftest import Kit

COMMITTED = "redemption.redemption.committed"


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    """Autouse, so it is set up before the services are built: every one of them traces."""
    with exporting_to(InMemorySpanExporter()) as exporter:
        yield exporter


@pytest.fixture
def notification_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
        return
    pg: EmbeddedPostgres = request.getfixturevalue("embedded_postgres")
    name = f"n_{uuid.uuid4().hex[:12]}"
    yield pg.database_url(name)
    pg.drop_database(name)


@pytest.fixture
async def notification(notification_database_url: str, nats_server: NatsServer, clock: ManualClock,
                       issuer: TestIssuer) -> AsyncIterator[NotificationApp]:
    """notification, whose consumer tells the volunteer about their redemption."""
    settings = NotificationSettings(port=0, database_url=notification_database_url, nats_url=nats_server.url,
                                    sweep_interval_seconds=0)
    app = issuer.trust(NotificationApp(settings, clock=clock, providers={"wechat": [], "sms": []}))
    await app.start()
    yield app
    await app.stop(grace=1)


def service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def named(spans: list[ReadableSpan], name: str, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and s.kind == kind]


async def test_one_redemption_is_one_trace_across_both_services_the_publish_and_the_consumer(
    kit: Kit, notification: NotificationApp, spans: InMemorySpanExporter
) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=30)
    session = await kit.session(till, volunteer)
    spans.clear()  # the setup's calls are traces of their own

    reply = await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1,
                                                  request_id=f"trace-{uuid.uuid4().hex[:8]}"), metadata=till)

    def consumed() -> list[ReadableSpan]:
        return named(list(spans.get_finished_spans()), f"process {COMMITTED}", SpanKind.CONSUMER)

    await wait_until(lambda: {service(s) for s in consumed()} >= {"notification", "volunteer-points"}, timeout=15,
                     what="notification and volunteer-points to apply the committed event")
    finished = list(spans.get_finished_spans())

    [redeem] = named(finished, "/linli.redemption.v1.PosService/Redeem", SpanKind.SERVER)
    assert service(redeem) == "partner-redemption" and redeem.parent is None, "the terminal's call starts the trace"
    trace_id = redeem.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}

    # volunteer-points: the hold placed (PlaceHolds: the holds of a batch of concurrent redeems,
    # in its first request's trace), a SERVER span whose parent is partner-redemption's CLIENT
    # span of the call, with the ledger's statements inside (the POS waits for nothing else).
    points_calls = [s for s in in_trace if service(s) == "volunteer-points" and s.kind == SpanKind.SERVER]
    assert {s.name for s in points_calls} == {"/linli.points.v1.LedgerService/PlaceHolds"}
    for call in points_calls:
        assert call.parent is not None
        client = by_id[call.parent.span_id]
        assert (service(client), client.kind, client.name) == ("partner-redemption", SpanKind.CLIENT, call.name)
    assert any(service(s) == "volunteer-points" and s.kind == SpanKind.CLIENT and s.parent is not None
               and by_id[s.parent.span_id] in points_calls for s in in_trace), "the ledger's SQL is in the trace"

    # The relay's publish: a PRODUCER span, child of the call that wrote the event (the outbox
    # write happened inside Redeem's span).
    [publish] = named(in_trace, f"publish {COMMITTED}", SpanKind.PRODUCER)
    assert service(publish) == "partner-redemption" and publish.parent is not None
    assert publish.parent.span_id == redeem.context.span_id
    assert publish.status.status_code != StatusCode.ERROR
    event_id = str((publish.attributes or {})["messaging.message.id"])

    # notification's consumer: a CONSUMER span in the same trace, child of the producing call and
    # linked to the publish; the notice it writes is in it.
    [process] = [s for s in consumed() if service(s) == "notification"]
    assert process.context.trace_id == trace_id, "the consumer joined the redemption's trace"
    assert process.parent is not None and process.parent.span_id == redeem.context.span_id
    assert [link.context.span_id for link in process.links] == [publish.context.span_id]
    assert (process.attributes or {})["messaging.message.id"] == event_id
    assert process.status.status_code != StatusCode.ERROR
    inside = [s for s in finished if s.parent is not None and s.parent.span_id == process.context.span_id]
    assert inside and all(service(s) == "notification" for s in inside), "the handler's statements are children"

    # volunteer-points' consumer posting the hold: in the same trace, linked to the same publish.
    [post] = [s for s in consumed() if service(s) == "volunteer-points"]
    assert post.context.trace_id == trace_id and [link.context.span_id for link in post.links] == [
        publish.context.span_id]
    assert post.status.status_code != StatusCode.ERROR

    # One trace: every span of this redemption's work carries its trace id, and nothing the
    # services did for it started a trace of its own.
    assert {service(s) for s in in_trace} >= {"partner-redemption", "volunteer-points", "notification"}
    about_event = [s for s in finished if (s.attributes or {}).get("messaging.message.id") == event_id]
    assert about_event and all(s.context.trace_id == trace_id for s in about_event)
    assert reply.redemption.points == 30
