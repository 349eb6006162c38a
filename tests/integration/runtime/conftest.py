"""Fixtures shared by the event-bus tests: a stream of the test's own and a connected bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
