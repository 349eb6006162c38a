"""The relay's publisher (core publishes, PubAcks on one inbox) against a real nats-server: every
message is stored or refused by name, a refusal is answered at once (not after the timeout),
and a refused event waits in the outbox."""

from __future__ import annotations

import pytest
from nats.js.errors import APIError, NoStreamResponseError

from linli_runtime.db import Database
from linli_runtime.events import OutboxRelay
from linli_runtime.events.bus import EventBus
from linli_runtime.events.publisher import BatchPublisher
from linli_runtime.events.streams import StreamLimits
from linli_runtime.processes import NatsServer
from tests.integration.runtime.eventkit import Topic, stream_event_ids, write_events

pytestmark = pytest.mark.timeout(30)


async def test_each_message_of_a_batch_is_acknowledged_or_refused_by_position(
    bus: EventBus, topic: Topic
) -> None:
    publisher = BatchPublisher(bus)
    events = [topic.event(f"e{i}") for i in range(5)]
    messages = [(e.subject, e.SerializeToString(), {"Nats-Msg-Id": e.event_id}) for e in events]
    messages.insert(2, ("nostream.thing.happened", b"x", {"Nats-Msg-Id": "nowhere"}))  # no stream listens
    try:
        batch = await publisher.publish(messages)
        await batch.done  # every position answered: the refusal too, without waiting for a timeout
        outcomes = [batch.outcome(i) for i in range(len(messages))]
        assert [o is None for o in outcomes] == [True, True, False, True, True, True]
        assert isinstance(outcomes[2], NoStreamResponseError)
        assert await stream_event_ids(bus, topic) == [e.event_id for e in events], "stored in order"

        again = await publisher.publish(messages[:2])  # the same ids: JetStream's dedup acknowledges them
        await again.done
        assert [again.outcome(i) for i in range(2)] == [None, None]
        assert len(await stream_event_ids(bus, topic)) == 5
    finally:
        await publisher.close()


async def test_events_a_full_stream_refuses_wait_in_the_outbox(
    db: Database, nats_server: NatsServer, topic: Topic
) -> None:
    """A full stream refuses new events (DiscardPolicy.NEW): the relay leaves them unsent, and
    says so at once rather than after its publish timeout."""
    bus = EventBus(nats_server.url, name="full", streams=[topic.spec], limits=StreamLimits(max_bytes=600))
    bus.start()
    await bus.wait_ready(15)
    relay = OutboxRelay(db, bus, service="test", poll_interval=60, publish_timeout=20)
    try:
        await write_events(db, topic, [f"e{i}" for i in range(8)], per_tx=8)
        with pytest.raises(RuntimeError, match="not acknowledged") as refused:
            await relay.publish_batch()
        assert "ServiceUnavailable" in str(refused.value) or "APIError" in str(refused.value), (
            f"refused by JetStream, not timed out: {refused.value}")
        stored = await stream_event_ids(bus, topic)
        assert 0 < len(stored) < 8
        assert await relay.pending() == 8 - len(stored), "each refused event still in the outbox"
    finally:
        await relay.stop(0.1)
        await bus.close()


def test_a_refusal_names_jetstreams_error() -> None:
    from linli_runtime.events.publisher import _refusal

    class Answer:
        data = b'{"error":{"code":503,"err_code":10077,"description":"maximum bytes exceeded"}}'

    error = _refusal(Answer())  # type: ignore[arg-type]
    assert isinstance(error, APIError) and error.description == "maximum bytes exceeded"
