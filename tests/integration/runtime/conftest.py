"""Fixtures shared by the event-bus tests: a stream of the test's own, a connected bus and a
running outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from linli_runtime.db import Database
from linli_runtime.events import OutboxRelay
from linli_runtime.events.bus import EventBus
from linli_runtime.processes import NatsServer
from tests.integration.runtime.eventkit import Topic


@pytest.fixture
def topic() -> Topic:
    return Topic.new()


@pytest.fixture
async def bus(nats_server: NatsServer, topic: Topic) -> AsyncIterator[EventBus]:
    bus = EventBus(nats_server.url, name="test", streams=[topic.spec])
    bus.start()
    await bus.wait_ready(15)
    yield bus
    await bus.close()


@pytest.fixture
async def relay(db: Database, bus: EventBus) -> AsyncIterator[OutboxRelay]:
    """The outbox relay of the test's database, polling often (commits wake it anyway)."""
    relay = OutboxRelay(db, bus, service="test", poll_interval=0.05, publish_timeout=1.0)
    relay.start()
    yield relay
    await relay.stop(flush_timeout=1.0)
