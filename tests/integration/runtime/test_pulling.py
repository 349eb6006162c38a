"""Taking what waits for a pull consumer off its subscription's queue (events/pulling.py), against
a real nats-server: every waiting message once, at most the batch, at once when fewer wait."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from linli_runtime.events.bus import EventBus
from linli_runtime.events.pulling import ack_all, take_waiting
from tests.integration.runtime.eventkit import Topic

pytestmark = pytest.mark.timeout(30)


async def test_take_waiting_returns_each_waiting_message_once_up_to_the_batch(bus: EventBus, topic: Topic) -> None:
    for i in range(15):
        await bus.js.publish(topic.subject, f"m{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"})
    await bus.js.add_consumer(topic.spec.name, ConsumerConfig(durable_name="pull", ack_policy=AckPolicy.EXPLICIT))
    sub = await bus.js.pull_subscribe_bind(durable="pull", stream=topic.spec.name)

    first = await take_waiting(sub, 10, timeout=5)
    started = time.monotonic()
    rest = await take_waiting(sub, 10, timeout=5)  # five wait: JetStream says so at once (404)
    assert time.monotonic() - started < 2, "fewer waiting than asked: answered at once, not at the timeout"
    none = await take_waiting(sub, 10, timeout=5)
    assert [m.data for m in first + rest] == [f"m{i}".encode() for i in range(15)]
    assert (len(first), len(rest), none) == (10, 5, [])
    await asyncio.gather(*(m.ack() for m in first + rest))
    assert sub.pending_msgs == 0, "nothing left on the subscription's queue"


async def test_take_waiting_falls_back_to_fetch_on_a_subscription_it_does_not_know(bus: EventBus, topic: Topic) -> None:
    await bus.js.publish(topic.subject, b"only", headers={"Nats-Msg-Id": "only"})
    await bus.js.add_consumer(topic.spec.name, ConsumerConfig(durable_name="pull", ack_policy=AckPolicy.EXPLICIT))
    sub = await bus.js.pull_subscribe_bind(durable="pull", stream=topic.spec.name)

    class Fetching:  # a PullSubscription without the internals take_waiting reads
        fetch = sub.fetch

    assert [m.data for m in await take_waiting(Fetching(), 5, timeout=1)] == [b"only"]


async def test_ack_all_acks_every_message_with_one_write(bus: EventBus, topic: Topic) -> None:
    for i in range(6):
        await bus.js.publish(topic.subject, f"m{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"})
    await bus.js.add_consumer(topic.spec.name, ConsumerConfig(durable_name="pull", ack_policy=AckPolicy.EXPLICIT))
    sub = await bus.js.pull_subscribe_bind(durable="pull", stream=topic.spec.name)
    msgs = await take_waiting(sub, 10, timeout=5)
    await ack_all(msgs[:4])
    await bus.nc.flush()
    info = await bus.js.consumer_info(topic.spec.name, "pull")
    assert (len(msgs), info.num_ack_pending, info.ack_floor.stream_seq) == (6, 2, 4), "the first four acked"
    assert all(m._ackd for m in msgs[:4]) and not any(m._ackd for m in msgs[4:])
    await ack_all([])
