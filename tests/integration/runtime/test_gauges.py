"""The gauges the alerts watch report the state they name, on SQLite and PostgreSQL with a real
nats-server: the outbox backlog (count and age of the oldest unsent event) grows while NATS is
down and falls to zero once the relay has published; dead letters are counted per consumer,
zero included; the stream gauges are what JetStream says the stream holds and allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import REGISTRY

from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.events import OutboxRelay
from linli_runtime.events.bus import EventBus
from linli_runtime.events.streams import StreamLimits
from linli_runtime.events.tables import DEAD_LETTERS
from linli_runtime.gauges import RuntimeGauges
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until
from tests.integration.runtime.eventkit import Topic, write_events


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_outbox_backlog_gauges_show_what_waits_while_nats_is_down_and_clear_once_sent(
        db: Database, bus: EventBus, topic: Topic) -> None:
    await write_events(db, topic, ["a", "b", "c"])
    # Ninety seconds after the events were written, with no NATS to publish to.
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=90))
    down = EventBus("nats://127.0.0.1:1", name="test-down")  # never connected
    relay = OutboxRelay(db, down, service="gauge-down", clock=clock, poll_interval=0.05, gauge_interval=0)
    relay.start()
    try:
        await wait_until(lambda: sample("linli_outbox_unsent_events", service="gauge-down") == 3,
                         what="the backlog gauge to count the three waiting events")
        age = sample("linli_outbox_oldest_unsent_age_seconds", service="gauge-down")
        assert age is not None and 85 <= age <= 95, age
    finally:
        await relay.stop(flush_timeout=0.1)

    relay = OutboxRelay(db, bus, service="gauge-up", clock=clock, poll_interval=0.05, gauge_interval=0)
    relay.start()
    try:
        await wait_until(lambda: sample("linli_outbox_unsent_events", service="gauge-up") == 0
                         and sample("linli_outbox_published_events_total", service="gauge-up") == 3,
                         what="the relay to publish and the gauge to fall to zero")
        assert sample("linli_outbox_oldest_unsent_age_seconds", service="gauge-up") == 0
    finally:
        await relay.stop(flush_timeout=1.0)


async def test_dead_letters_are_counted_per_consumer_and_a_consumer_without_any_shows_zero(
        db: Database, bus: EventBus) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        conn = await session.connection()
        await conn.execute(sa.insert(DEAD_LETTERS), [
            {"consumer": "gauge-poisoned", "stream": "T", "stream_seq": seq, "event_id": f"e-{seq}",
             "subject": "t.thing.happened", "data": b"?", "error": "undecodable", "deliveries": 1,
             "recorded_at": now} for seq in (1, 2)])
    gauges = RuntimeGauges("gauge-test", db, bus, ["gauge-poisoned", "gauge-healthy"])
    await gauges.refresh()
    assert sample("linli_dead_letter_events", service="gauge-test", consumer="gauge-poisoned") == 2
    assert sample("linli_dead_letter_events", service="gauge-test", consumer="gauge-healthy") == 0


async def test_the_stream_gauges_are_what_jetstream_holds_and_allows(db: Database, nats_server: NatsServer,
                                                                     topic: Topic) -> None:
    limits = StreamLimits(max_bytes=4 * 1024 * 1024, max_age_seconds=3600)
    bus = EventBus(nats_server.url, name="test", streams=[topic.spec], limits=limits)
    bus.start()
    await bus.wait_ready(15)
    try:
        for i in range(3):
            await bus.js.publish(topic.subject, b"x" * 100, headers={"Nats-Msg-Id": f"gauge-{i}"})
        gauges = RuntimeGauges("gauge-test", db, bus, [])
        await gauges.refresh()
        info = await bus.js.stream_info(topic.spec.name)
        assert info.state.bytes > 300
        assert sample("linli_jetstream_stream_bytes", stream=topic.spec.name) == info.state.bytes
        assert sample("linli_jetstream_stream_messages", stream=topic.spec.name) == 3
        assert sample("linli_jetstream_stream_max_bytes", stream=topic.spec.name) == limits.max_bytes
    finally:
        await bus.close()
