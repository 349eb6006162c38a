"""The case the backup's argument turns on, made to happen (under load it is a matter of
milliseconds): an event published after the JetStream export began, and marked sent before the
databases were copied, is in no exported stream — restore must send it again, and its consumer
must then apply every event once. Real nats-server over TLS, real SQLite, the runtime's relay and
consumer; the e2e test (tests/e2e/runtime/test_backup_restore.py) runs the whole platform."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_runtime.backup import (
    FORMAT,
    JETSTREAM,
    Manifest,
    copy_databases,
    export_jetstream,
    progress_display,
    restore,
)
from linli_runtime.db import Database
from linli_runtime.events import ConsumerSpec, Event, EventConsumer, OutboxRelay, StreamSpec, make_event, publish_in
from linli_runtime.events.bus import EventBus
from linli_runtime.events.tables import INBOX, OUTBOX
from linli_runtime.migrations import upgrade
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until

STREAM = StreamSpec("WINDOW", ("window.>",), "backup window test")
CONSUMER = "window-consumer"


class Node:
    """A data folder's database and nats-server, as the platform lays them out."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.security = NatsSecurity(var_dir).prepare()
        self.server = NatsServer(var_dir / "nats", config=self.security.server_config(cluster=False))
        self.db = Database(f"sqlite+aiosqlite:///{var_dir / 'window.db'}")
        self.bus: EventBus | None = None

    async def start(self) -> None:
        self.server.start()
        await upgrade(self.db)
        options = self.security.admin_options()
        self.bus = EventBus(self.server.url, name="window", streams=[STREAM], tls=options["tls"],
                            user=options["user"], password=options["password"])
        self.bus.start()
        await self.bus.wait_ready(10)

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.close()
        await self.db.dispose()
        self.server.stop()

    async def write(self, message: str) -> str:
        event = make_event("window.thing.happened", StringValue(value=message), org_scope="", source="window")
        async with self.db.transaction() as session:
            await publish_in(session, event)
        return event.event_id

    async def relay_everything(self) -> None:
        assert self.bus is not None
        relay = OutboxRelay(self.db, self.bus, service="window")
        assert await relay.flush(5)


async def applied(db: Database) -> set[str]:
    async with db.reading() as conn:
        return set((await conn.execute(select(INBOX.c.event_id).where(INBOX.c.consumer == CONSUMER))).scalars())


async def test_an_event_published_after_the_export_began_is_sent_again_and_applied_once(tmp_path: Path) -> None:
    original = Node(tmp_path / "var")
    await original.start()
    try:
        before = await original.write("published before the backup")
        await original.relay_everything()
        display = progress_display()
        target = tmp_path / "backup"
        (target / JETSTREAM).mkdir(parents=True)
        with display:
            began, counts = await export_jetstream(original.server.url, original.security.admin_options(),
                                                   target / JETSTREAM, display)
            # The window: published and marked sent after the export began, before the copy.
            during = await original.write("published while the backup ran")
            await original.relay_everything()
            copied = copy_databases({"window": original.var_dir / "window.db"}, target, display)
        Manifest(format=FORMAT, created_at=began.isoformat(), jetstream_from=began.isoformat(),
                 cut_at=began.isoformat(), databases=copied, streams=counts).write(target)
    finally:
        await original.stop()
    assert counts == {"WINDOW": 1}, "the export holds only what was there when it began"

    resent = await asyncio.to_thread(restore, target, tmp_path / "restored")
    # The event the export lacks is sent again; so is the one sent just before the export began
    # (within the clock margin): a duplicate, dropped by JetStream or the inbox.
    assert resent == {"window": 2}

    restored = Node(tmp_path / "restored")
    await restored.start()
    try:
        async with restored.db.reading() as conn:
            unsent = set((await conn.execute(select(OUTBOX.c.event_id).where(OUTBOX.c.sent_at.is_(None)))).scalars())
        assert unsent == {before, during}
        await restored.relay_everything()
        seen: list[str] = []

        async def handler(event: Event, session: AsyncSession) -> None:
            seen.append(event.id)

        assert restored.bus is not None
        consumer = EventConsumer(ConsumerSpec(CONSUMER, STREAM.name, ["window.>"], handler), restored.db, restored.bus)
        consumer.start()
        try:
            await wait_until(lambda: _both(restored.db, {before, during}), 20, "the consumer to apply both events")
        finally:
            await consumer.stop()
        assert sorted(seen) == sorted({before, during}), "each applied once"
    finally:
        await restored.stop()


async def _both(db: Database, wanted: set[str]) -> bool:
    return await applied(db) == wanted


async def test_restored_messages_keep_their_stream_sequences(tmp_path: Path) -> None:
    """A stream that has aged out its oldest messages is restored with the same sequences
    (dead letters name them), not renumbered from 1."""
    original = Node(tmp_path / "var")
    await original.start()
    try:
        ids = [await original.write(f"event {i}") for i in range(3)]
        await original.relay_everything()
        assert original.bus is not None
        await original.bus.js.purge_stream(STREAM.name, seq=2)  # the oldest gone, as max_age does
        target = tmp_path / "backup"
        (target / JETSTREAM).mkdir(parents=True)
        display = progress_display()
        with display:
            began, counts = await export_jetstream(original.server.url, original.security.admin_options(),
                                                   target / JETSTREAM, display)
            copied = copy_databases({"window": original.var_dir / "window.db"}, target, display)
        Manifest(format=FORMAT, created_at=began.isoformat(), jetstream_from=began.isoformat(),
                 cut_at=began.isoformat(), databases=copied, streams=counts).write(target)
    finally:
        await original.stop()
    assert counts == {"WINDOW": 2}

    await asyncio.to_thread(restore, target, tmp_path / "restored")
    restored = Node(tmp_path / "restored")
    await restored.start()
    try:
        assert restored.bus is not None
        info = await restored.bus.js.stream_info(STREAM.name)
        assert (info.state.first_seq, info.state.last_seq) == (2, 3)
        for seq, event_id in ((2, ids[1]), (3, ids[2])):
            msg = await restored.bus.js.get_msg(STREAM.name, seq)
            assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == event_id
    finally:
        await restored.stop()
