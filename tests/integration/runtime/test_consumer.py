"""Durable consumers with inbox and dead letters, against real NATS, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.msg import Msg
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from linli_runtime.db import Database
from linli_runtime.events import ConsumerSpec, EventConsumer, OutboxRelay, PoisonMessage, TransientError
from linli_runtime.events import consumer as consumer_module
from linli_runtime.events.bus import EventBus
from linli_runtime.events.pulling import ack_all
from linli_runtime.events.tables import DEAD_LETTERS, INBOX
from linli_runtime.testing.waiting import consumer_settled, wait_until
from tests.integration.runtime.eventkit import (
    Recorder,
    Topic,
    applied,
    applied_counts,
    create_test_tables,
    write_events,
)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the consumer handles it."""


@pytest.fixture
async def published(db: Database, relay: OutboxRelay) -> OutboxRelay:
    """The relay running, and the test handler's table in the database."""
    await create_test_tables(db)
    return relay


def spec_for(topic: Topic, handler: Recorder, **overrides: object) -> ConsumerSpec:
    options: dict[str, object] = {"ack_wait": 1.0, "batch": 10, "nak_delays": (0.05,)}
    options.update(overrides)
    return ConsumerSpec(name="test-consumer", stream=topic.spec.name, subjects=[f"{topic.root}.>"],
                        handler=handler, **options)  # type: ignore[arg-type]


async def run_until_crash(consumer: EventConsumer) -> None:
    consumer.start()
    assert consumer._task is not None
    with pytest.raises(Crash):
        await asyncio.wait_for(consumer._task, 15)


async def test_each_event_is_applied_once(db: Database, bus: EventBus, published: OutboxRelay, topic: Topic) -> None:
    values = [f"v{i}" for i in range(25)]
    await write_events(db, topic, values, per_tx=5)
    recorder = Recorder()
    consumer = EventConsumer(spec_for(topic, recorder), db, bus)
    consumer.start()
    try:
        await wait_until(lambda: _applied(db, len(values)), what="all events applied")
    finally:
        await consumer.stop()
    assert await applied_counts(db) == dict.fromkeys(values, 1)


async def test_consumer_that_crashes_mid_batch_gets_redelivery_and_applies_each_event_once(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [f"v{i}" for i in range(10)]
    await write_events(db, topic, values)
    await wait_until(lambda: _pending_is(published, 0), what="events published")

    # First life: the process dies inside v4's handler. How many events one fetch returns is
    # the server's business (a batch may hold v0..v9 or stop short), so the test asserts what
    # holds whatever the batches were: the batch v4 was in rolled back, nothing of it applied.
    first = Recorder(fail_with={"v4": Crash()})
    await run_until_crash(EventConsumer(spec_for(topic, first), db, bus))
    assert first.calls[-1] == "v4"
    after_first = await applied_counts(db)
    assert "v4" not in after_first and set(after_first) <= set(values[:4])
    assert set(after_first.values()) <= {1}

    # Second life: dies after committing a batch, while acking the batch that held v6 (the worst
    # moment): that batch is applied, and none of it is acked (a batch's acks are one write).
    second = Recorder()
    consumer = EventConsumer(spec_for(topic, second), db, bus)

    async def die_while_acking_v6(msgs: list[Msg]) -> None:
        if any(b"v6" in msg.data for msg in msgs):
            raise Crash()
        await ack_all(msgs)

    monkeypatch.setattr(consumer_module, "ack_all", die_while_acking_v6)
    await run_until_crash(consumer)
    monkeypatch.undo()
    after_second = await applied_counts(db)
    assert "v6" in second.calls and after_second.get("v6") == 1
    assert set(after_second.values()) == {1}

    # Third life: redelivery after ack_wait finishes the job; v6 is delivered again but not
    # re-applied, and nothing committed in an earlier life is applied twice.
    third = Recorder()
    consumer = EventConsumer(spec_for(topic, third), db, bus)
    consumer.start()
    try:
        await wait_until(lambda: _applied(db, len(values)), what="every event applied after the crashes")
        await wait_until(lambda: _inbox_is(db, len(values)), what="inbox complete")
        await wait_until(lambda: consumer_settled(bus.js, topic.spec.name, "test-consumer"),
                         what="every redelivery acked")
    finally:
        await consumer.stop()
    assert await applied_counts(db) == dict.fromkeys(values, 1)
    assert not set(third.calls) & set(after_second), \
        "events committed before the crash were redelivered but not applied again"


async def test_poison_message_is_dead_lettered_not_redelivered(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    recorder = Recorder(fail_with={"poison": PoisonMessage("refers to a volunteer that does not exist")})
    await write_events(db, topic, ["ok-1", "poison", "ok-2"])
    await bus.js.publish(f"{topic.root}.garbage.arrived", b"\xff\x00not an envelope")
    consumer = EventConsumer(spec_for(topic, recorder), db, bus)
    consumer.start()
    try:
        await wait_until(lambda: _dead_letters_are(db, 2), what="two dead letters")
        await wait_until(lambda: _applied(db, 2), what="good events applied")
        # A termed message never returns: once the consumer has settled everything it was given,
        # no redelivery is pending (a nak'ed or unacknowledged poison message would still be).
        await wait_until(lambda: consumer_settled(bus.js, topic.spec.name, "test-consumer"),
                         what="every message acked or terminated")
    finally:
        await consumer.stop()
    assert recorder.calls.count("poison") == 1
    assert await applied_counts(db) == {"ok-1": 1, "ok-2": 1}
    rows = await _dead_letter_rows(db)
    errors = sorted(row.error.split(":")[0] for row in rows)
    assert errors == ["poison", "undecodable envelope"]
    info = await bus.js.consumer_info(topic.spec.name, "test-consumer")
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_commits(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    """One fetched batch, applied in one transaction: the poison event's handler fails after
    writing, so its write is rolled back with it; it alone is dead-lettered and termed, and the
    others are applied once and acked."""
    values = ["ok-1", "poison", "ok-2", "ok-3"]
    await write_events(db, topic, values, per_tx=4)
    await wait_until(lambda: _pending_is(published, 0), what="events published")
    recorder = Recorder(fail_with={"poison": PoisonMessage("refers to a volunteer that does not exist")})
    consumer = EventConsumer(spec_for(topic, recorder), db, bus)
    sub = await consumer._subscribe()
    msgs = await sub.fetch(len(values), timeout=5)
    assert len(msgs) == len(values), "the four events in one batch"

    assert await consumer.process_batch(msgs) == ["applied", "dead-letter", "applied", "applied"]

    assert await applied_counts(db) == {"ok-1": 1, "ok-2": 1, "ok-3": 1}, "the poison event's write rolled back"
    assert recorder.calls.count("poison") == 1
    [row] = await _dead_letter_rows(db)
    assert row.error.startswith("poison:") and row.event_id is not None
    assert await _inbox_is(db, 3), "the dead-lettered event is not in the inbox"
    await wait_until(lambda: consumer_settled(bus.js, topic.spec.name, "test-consumer"),
                     what="three acked, the poison event terminated")


async def test_failing_handler_is_retried_then_dead_lettered_after_max_deliver(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    recorder = Recorder(fail_with={"flaky": TransientError("SMS gateway down")})
    await write_events(db, topic, ["flaky", "fine"])
    consumer = EventConsumer(spec_for(topic, recorder, max_deliver=3), db, bus)
    consumer.start()
    try:
        await wait_until(lambda: _dead_letters_are(db, 1), what="the flaky event dead-lettered")
    finally:
        await consumer.stop()
    assert recorder.calls.count("flaky") == 3
    assert await applied_counts(db) == {"fine": 1}, "the failing attempts rolled back"
    [row] = await _dead_letter_rows(db)
    assert row.deliveries == 3 and "gave up after 3 deliveries" in row.error


async def _applied(db: Database, n: int) -> bool:
    return sum((await applied_counts(db)).values()) >= n


async def _pending_is(relay: OutboxRelay, n: int) -> bool:
    return await relay.pending() == n


async def _inbox_is(db: Database, n: int) -> bool:
    async with db.engine.connect() as conn:
        return len((await conn.execute(select(INBOX.c.event_id))).all()) == n


async def _dead_letter_rows(db: Database) -> list:  # type: ignore[type-arg]
    async with db.engine.connect() as conn:
        return list(await conn.execute(select(DEAD_LETTERS)))


async def _dead_letters_are(db: Database, n: int) -> bool:
    return len(await _dead_letter_rows(db)) == n


class _DeadlockDetected(Exception):
    sqlstate = "40P01"  # what asyncpg reports when PostgreSQL breaks a deadlock


async def test_a_deadlock_in_a_batch_is_not_charged_to_the_event(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    """Two replicas' batches can lock rows in opposite orders; PostgreSQL then aborts one. That
    is the batching's doing: the batch is re-run one event per transaction, and the event is
    applied — not nak'ed towards max_deliver (here 1, so a charge would dead-letter it)."""
    conflict = OperationalError("UPDATE …", {}, _DeadlockDetected())
    recorder = Recorder(fail_with={"clash": conflict})
    original = recorder.__call__

    async def once_then_fine(event, session):  # type: ignore[no-untyped-def]
        try:
            await original(event, session)
        except OperationalError:
            recorder.fail_with.pop("clash", None)  # the other batch has committed by the re-run
            raise

    await write_events(db, topic, ["a", "clash", "b"])
    consumer = EventConsumer(spec_for(topic, once_then_fine, max_deliver=1), db, bus)  # type: ignore[arg-type]
    consumer.start()
    try:
        await wait_until(lambda: _applied(db, 3), what="all three events applied")
    finally:
        await consumer.stop()
    assert await applied_counts(db) == {"a": 1, "clash": 1, "b": 1}
    assert recorder.calls.count("clash") == 2, "refused once, applied on the re-run"
    assert await _dead_letter_rows(db) == []


async def test_a_consumer_is_settled_only_when_nothing_waits_for_a_retry(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    """What a "nothing happened" check waits for (linli_runtime.testing.waiting.consumer_settled):
    not while a refused event waits for its retry; yes once all is applied, even for a consumer
    whose filter skipped messages of other subjects in its stream."""
    recorder = Recorder(fail_with={"flaky": TransientError("SMS gateway down")})
    await bus.js.publish(f"{topic.root}.other.happened", b"not for this consumer")
    await write_events(db, topic, ["a", "flaky"])
    spec = ConsumerSpec(name="test-consumer", stream=topic.spec.name, subjects=[topic.subject], handler=recorder,
                        ack_wait=1.0, nak_delays=(0.05,), max_deliver=1000)
    consumer = EventConsumer(spec, db, bus)
    consumer.start()
    try:
        await wait_until(lambda: recorder.calls.count("flaky") >= 2, what="the flaky event refused twice")
        assert not await consumer_settled(bus.js, topic.spec.name, "test-consumer")
        recorder.fail_with.clear()
        await wait_until(lambda: consumer_settled(bus.js, topic.spec.name, "test-consumer"),
                         what="the retried event applied and acked")
    finally:
        await consumer.stop()
    assert await applied_counts(db) == {"a": 1, "flaky": 1}


async def test_a_batch_handler_answers_each_event_and_a_failed_one_is_settled_alone(
    db: Database, bus: EventBus, published: OutboxRelay, topic: Topic
) -> None:
    """A consumer with a `batch_handler` is handed the batch's new events at once and answers
    each: the applied ones commit together and are acked; a poisoned one is dead-lettered and a
    failing one retried, each alone, and both leave the inbox (nothing of theirs was written), so
    the retry is applied when it comes back."""
    values = ["ok-1", "poison", "flaky", "ok-2"]
    await write_events(db, topic, values, per_tx=4)
    await wait_until(lambda: _pending_is(published, 0), what="events published")
    batches: list[list[str]] = []
    fail = {"poison": PoisonMessage("refers to nothing"), "flaky": TransientError("a dependency is down")}

    async def handle_batch(events, session):  # type: ignore[no-untyped-def]
        names = [event.payload(StringValue).value for event in events]
        batches.append(names)
        conn = await session.connection()
        outcomes: list[Exception | None] = []
        for event, name in zip(events, names, strict=True):
            if name in fail:
                outcomes.append(fail.pop(name) if name == "flaky" else fail[name])
            else:
                await conn.execute(applied.insert().values(event_id=event.id, value=name))
                outcomes.append(None)
        return outcomes

    consumer = EventConsumer(spec_for(topic, Recorder(), batch_handler=handle_batch), db, bus)
    sub = await consumer._subscribe()
    msgs = await sub.fetch(len(values), timeout=5)
    assert len(msgs) == len(values), "the four events in one batch"

    assert await consumer.process_batch(msgs) == ["applied", "dead-letter", "retry", "applied"]
    assert batches == [values]
    assert await applied_counts(db) == {"ok-1": 1, "ok-2": 1}
    assert await _dead_letters_are(db, 1)
    assert await _inbox_is(db, 2), "the failed events left the inbox"
    again = await sub.fetch(1, timeout=5)  # the retry, redelivered after its nak delay
    assert await consumer.process_batch(again) == ["applied"]
    assert await applied_counts(db) == {"ok-1": 1, "ok-2": 1, "flaky": 1}
