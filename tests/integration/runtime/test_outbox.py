"""Outbox and relay against real NATS JetStream, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.events import OutboxRelay, publish_in
from linli_runtime.events.bus import EventBus
from linli_runtime.events.outbox import _MARK_SENT, _TAKE_UNSENT, _give_back
from linli_runtime.events.tables import OUTBOX
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until
from tests.integration.runtime.eventkit import Topic, stream_event_ids, write_events


async def test_event_in_rolled_back_transaction_is_never_published(
    db: Database, bus: EventBus, relay: OutboxRelay, topic: Topic
) -> None:
    with pytest.raises(RuntimeError, match="business rule"):
        async with db.transaction() as session:
            await publish_in(session, topic.event("rolled back"))
            raise RuntimeError("business rule refused the change")
    committed = await write_events(db, topic, ["committed"])

    async def published() -> bool:
        return await relay.pending() == 0 and len(await stream_event_ids(bus, topic)) >= 1

    await wait_until(published, what="the committed event in the stream")
    assert await stream_event_ids(bus, topic) == committed


async def test_events_written_in_one_call_are_published_in_order(
    db: Database, bus: EventBus, relay: OutboxRelay, topic: Topic
) -> None:
    events = [topic.event(f"batch-{i}") for i in range(5)]
    async with db.transaction() as session:
        await publish_in(session, *events)
    await wait_until(lambda: _pending_is(relay, 0), what="the batch published")
    assert await stream_event_ids(bus, topic) == [e.event_id for e in events]


async def test_an_outbox_write_that_fails_raises_sqlalchemys_error_and_writes_nothing(
    db: Database, topic: Topic
) -> None:
    """On PostgreSQL `publish_in` sends its statement on asyncpg's own connection (no span
    current): a refused write still raises SQLAlchemy's IntegrityError — what the callers' race
    retries read — and the transaction writes none of it; then a later one goes through."""
    first = topic.event("first")
    async with db.transaction() as session:
        await publish_in(session, first)
    again = topic.event("again")
    again.event_id = first.event_id
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await publish_in(session, topic.event("before"), again)
    async with db.transaction() as session:
        await publish_in(session, topic.event("after"))
    async with db.reading() as conn:
        values = {row.event_id for row in await conn.execute(select(OUTBOX.c.event_id))}
    assert len(values) == 2 and first.event_id in values


async def test_events_written_while_nats_is_down_are_all_delivered_once_after_restart(
    db: Database, bus: EventBus, relay: OutboxRelay, topic: Topic, nats_server: NatsServer
) -> None:
    before = await write_events(db, topic, ["before-0", "before-1"])
    await wait_until(lambda: _pending_is(relay, 0), what="events before the outage to go out")

    nats_server.stop()
    values = [f"during-{i}" for i in range(40)]
    during = await write_events(db, topic, values[:20]) + await write_events(db, topic, values[20:], per_tx=5)
    # The relay keeps failing while NATS is down: every event waits in the outbox.
    assert await relay.pending() == 40

    nats_server.start()
    await wait_until(lambda: _pending_is(relay, 0), timeout=30, what="the relay to drain after NATS restarted")
    ids = await stream_event_ids(bus, topic)
    assert sorted(ids) == sorted(before + during), "every event exactly once in the stream"


async def test_republished_event_is_dropped_by_jetstream_dedup(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """A relay that fails between the PubAck and marking the rows sent leaves them unsent (on
    PostgreSQL its claim rolls back) and publishes them again; the Nats-Msg-Id keeps the stream
    free of the duplicates."""
    relay = OutboxRelay(db, bus, service="test", poll_interval=60)
    ids = await write_events(db, topic, ["a", "b", "c"], per_tx=3)

    async def crash_before_mark(settled: Any) -> None:
        raise ConnectionError("process died after PubAck, before marking the rows sent")

    original = relay._mark_sent
    relay._mark_sent = crash_before_mark  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await relay.publish_batch()
    assert await relay.pending() == 3
    relay._mark_sent = original  # type: ignore[method-assign]
    assert await relay.publish_batch() == 3
    assert await relay.pending() == 0
    assert await stream_event_ids(bus, topic) == ids


async def test_a_batch_in_flight_is_held_from_other_relays_and_goes_out_again_when_its_relay_dies(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """PostgreSQL, replicas sharing a database: a relay's claimed rows stay locked while its batch
    is in flight, so another relay's claim skips them; when the relay dies mid-batch (published,
    not yet committed: its server connection is cut) they are unsent again at once and the other
    relay publishes them, JetStream's dedup dropping the copies."""
    if db.is_sqlite:
        pytest.skip("SQLite serves one process: its relay holds no rows")
    dying = OutboxRelay(db, bus, service="replica-1", poll_interval=60)
    other = OutboxRelay(db, bus, service="replica-2", poll_interval=60)
    ids = await write_events(db, topic, ["a", "b", "c"], per_tx=3)
    rows, hold = await dying._claim()
    assert hold is not None and [row.event_id for row in rows] == ids
    flight = await dying._send(rows, hold)
    await wait_until(lambda: flight.acked, what="JetStream's PubAcks for the dying relay's batch")
    assert await other.publish_batch() == 0, "the rows in flight are skipped"
    assert await other.pending() == 3, "claimed, not yet sent"
    backend = (await hold.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    async with db.engine.connect() as admin:  # the dying relay's connection is cut, as by a crash
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    dying._give_up(flight, ConnectionError("killed"))
    await _give_back(hold)  # the dead connection back to the pool (which discards it)
    await wait_until(lambda: _published(other, 3), what="the other relay to publish the rows again")
    assert await other.pending() == 0
    assert await stream_event_ids(bus, topic) == ids, "each event once in the stream"
    await dying.stop(0)
    await other.stop(0)


async def _published(relay: OutboxRelay, n: int) -> bool:
    return await relay.publish_batch() == n


async def test_two_relays_sharing_a_database_publish_each_event_once(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    first = OutboxRelay(db, bus, service="replica-1", poll_interval=0.02, batch_size=7)
    second = OutboxRelay(db, bus, service="replica-2", poll_interval=0.02, batch_size=7)
    first.start()
    second.start()
    try:
        ids = await write_events(db, topic, [f"e{i}" for i in range(60)], per_tx=4)
        await wait_until(lambda: _pending_is(first, 0), what="both relays to drain the outbox")
        assert sorted(await stream_event_ids(bus, topic)) == sorted(ids)
    finally:
        await first.stop(1)
        await second.stop(1)


async def _pending_is(relay: OutboxRelay, n: int) -> bool:
    return await relay.pending() == n


async def test_sent_rows_past_retention_are_pruned_in_batches_and_unsent_ones_stay(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """Pruning deletes a few rows per statement (one DELETE of a busy day's rows would hold
    SQLite's writer, and with it the event loop, for seconds); every old sent row still goes. On
    PostgreSQL the relay deletes what it sent; only rows marked sent before rt0005 are pruned."""
    clock = ManualClock(datetime.now(UTC))
    relay = OutboxRelay(db, bus, service="test", poll_interval=60, clock=clock, prune_batch=2,
                        retention=timedelta(days=1))
    old = await write_events(db, topic, [f"old-{i}" for i in range(5)])
    if db.is_sqlite:
        assert await relay.publish_all() == 5
    else:  # rows a relay marked sent before rt0005
        await db.write_one(OUTBOX.update().where(OUTBOX.c.event_id.in_(old)).values(sent_at=clock.now()))
    clock.advance(timedelta(days=1, seconds=1))
    young = await write_events(db, topic, ["young"])
    assert await relay.publish_all() == 1
    unsent = await write_events(db, topic, ["unsent"])
    statements: list[int] = []
    write_one = db.write_one

    async def counted(statement: Any, params: Any = None) -> int:
        statements.append(changed := await write_one(statement, params))
        return changed

    db.write_one = counted  # type: ignore[method-assign]
    try:
        await relay._prune()
    finally:
        db.write_one = write_one  # type: ignore[method-assign]
    async with db.reading() as conn:
        left = set((await conn.execute(select(OUTBOX.c.event_id))).scalars())
    assert statements == [2, 2, 1], "five old rows, two per statement"
    assert left == set((young if db.is_sqlite else []) + unsent), "on PostgreSQL a sent row is deleted at once"


async def test_a_row_refused_by_jetstream_stays_and_its_acknowledged_batch_mates_are_done_with(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """A batch JetStream stored only in part: on PostgreSQL its claim (the delete) rolls back and
    the acknowledged rows are deleted on their own, on SQLite they are marked sent; the refused
    row stays unsent for the next pass."""
    relay = OutboxRelay(db, bus, service="test", poll_interval=60)
    ids = await write_events(db, topic, ["a", "b", "c"], per_tx=3)
    outcome = relay._publisher.publish

    async def refuse_the_second(messages: Any) -> Any:
        acks = await outcome(messages)
        await acks.done  # every PubAck in; then the second one turned into a refusal
        acks.acked[1] = 0
        acks.errors[1] = RuntimeError("refused")
        return acks

    relay._publisher.publish = refuse_the_second  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="1 of 3 events not acknowledged"):
        await relay.publish_batch()
    relay._publisher.publish = outcome  # type: ignore[method-assign]
    async with db.reading() as conn:
        rows = {r.event_id: r.sent_at for r in await conn.execute(select(OUTBOX.c.event_id, OUTBOX.c.sent_at))}
    if db.is_sqlite:
        assert rows.keys() == set(ids) and [eid for eid, sent in rows.items() if sent is None] == [ids[1]]
    else:
        assert rows == {ids[1]: None}
    assert await relay.publish_batch() == 1
    assert await relay.pending() == 0
    assert sorted(await stream_event_ids(bus, topic)) == sorted(ids)


async def test_relay_bookkeeping_commits_without_flush_and_leaves_the_connection_as_it_was(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """On PostgreSQL a batch's claim (whose commit makes its mark true) and the mark of a partly
    refused batch's acknowledged rows each turn `synchronous_commit` off for their own transaction
    only (a claim lost with the server republishes, which dedup drops): inside the transaction the
    setting is off, after it the connection — pooled, or a PgBouncer server connection another
    client gets next — is as it was."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit")
    relay = OutboxRelay(db, bus, service="test", poll_interval=60)
    await write_events(db, topic, ["a"])
    async with db.engine.connect() as conn:
        await conn.execute(text("SET synchronous_commit = on"))  # the test server runs with it off
        await conn.commit()
        try:
            claim = text(_TAKE_UNSENT.replace("$1", ":size"))
            statements: list[tuple[Any, dict[str, Any]]] = [(claim, {"size": relay.batch_size}),
                                                             (_MARK_SENT["postgresql"], {"seqs": []})]
            for statement, params in statements:
                transaction = await conn.begin()
                assert await conn.scalar(text("SHOW synchronous_commit")) == "on"
                changed = (await conn.execute(statement, params)).rowcount
                assert await conn.scalar(text("SHOW synchronous_commit")) == "off"
                await transaction.rollback()  # the claimed row given back
                assert changed == (1 if statement is claim else 0)
            async with conn.begin():  # the setting ended with the transaction (and was on before each)
                assert await conn.scalar(text("SHOW synchronous_commit")) == "on"
        finally:
            await conn.execute(text("RESET synchronous_commit"))
            await conn.commit()
    assert await relay.publish_all() == 1
    assert await relay.pending() == 0


async def test_the_relay_holds_at_most_half_the_pool(database_url: str, bus: EventBus) -> None:
    """On PostgreSQL each batch in flight holds a pooled connection until JetStream acknowledged
    it: with a small pool the relay keeps fewer in flight, leaving the rest to requests."""
    for pool_size, on_postgresql in ((1, 1), (2, 1), (4, 2), (10, 4)):
        db = Database(database_url, pool_size=pool_size)
        try:
            assert OutboxRelay(db, bus, service="relay", window=4).window == (4 if db.is_sqlite else on_postgresql)
        finally:
            await db.dispose()


async def test_the_claim_reads_the_oldest_unsent_rows_off_the_key_without_sorting_the_backlog(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """PostgreSQL: the claim takes a batch from the front of the primary key (the table is the
    unsent set there: rt0006 dropped the unsent index) and stops there. A plan that reads the
    whole backlog and sorts it (a bitmap scan, which never marks the index entries of rows sent
    since the last VACUUM dead) costs each claim more the more was sent."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's plan")
    relay = OutboxRelay(db, bus, service="test", poll_interval=60, batch_size=50)
    for start in range(0, 2000, 500):
        await write_events(db, topic, [f"e{i}" for i in range(start, start + 500)], per_tx=500)
    claim = _TAKE_UNSENT.replace("$1", str(relay.batch_size))  # EXPLAIN alone deletes nothing
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE linli_outbox"))
        plan = "\n".join((await conn.execute(text(f"EXPLAIN {claim}"))).scalars())
    assert "linli_outbox_pkey" in plan and "Sort" not in plan and "Bitmap" not in plan, plan


async def test_commits_in_a_stream_share_a_claim_and_a_lone_commit_is_claimed_at_once(
    db: Database, bus: EventBus, topic: Topic
) -> None:
    """The relay's wake-ups coalesce: commits in quick succession wait for the claim gap after
    the last claim and go out in one claim, instead of one claim (a round of the relay's CPU)
    each; a commit after a quiet spell is claimed at once."""
    relay = OutboxRelay(db, bus, service="test", poll_interval=60, claim_gap=1.0, publish_timeout=1.0)
    relay.start()
    try:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1.1)  # the relay's first pass (a claim of nothing) is a gap ago
        started = loop.time()
        first = await write_events(db, topic, ["lone"])
        await wait_until(lambda: _pending_is(relay, 0), what="the lone commit published")
        assert loop.time() - started < 0.8, "a commit after a quiet spell waits for no gap"
        claims = relay.claims
        stream = await write_events(db, topic, [f"stream-{i}" for i in range(10)])
        await wait_until(lambda: _pending_is(relay, 0), what="the stream of commits published")
        assert relay.claims - claims <= 3, f"10 commits took {relay.claims - claims} claims"
        assert await stream_event_ids(bus, topic) == first + stream
    finally:
        await relay.stop(flush_timeout=1.0)
