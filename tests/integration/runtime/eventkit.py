"""Helpers for event-bus tests: a stream of its own per test, a handler that records what it
applied in a table of the test's database, and how far a consumer got (its inbox, its acks)."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.db import Database
from linli_runtime.events import Event, StreamSpec, make_event, publish_in
from linli_runtime.events.bus import EventBus
from linli_runtime.testing.fixtures import unique_stream

# The one wait_until is linli_runtime.testing.waiting's; re-exported here for the tests that still
# import it from this module (the services' integration tests, until they import it from there).
from linli_runtime.testing.waiting import wait_until

__all__ = ["Recorder", "Topic", "applied", "applied_counts", "create_test_tables", "stream_event_ids",
           "wait_until", "write_events"]

test_metadata = MetaData()
applied = Table(
    "test_applied",
    test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),  # deliberately not unique: duplicates must show
    Column("value", String(200), nullable=False),
)


@dataclass
class Topic:
    spec: StreamSpec
    root: str

    @classmethod
    def new(cls) -> Topic:
        name, root = unique_stream()
        return cls(StreamSpec(name, (f"{root}.>",), duplicate_window_seconds=120), root)

    @property
    def subject(self) -> str:
        return f"{self.root}.thing.happened"

    def event(self, value: str) -> EventEnvelope:
        return make_event(self.subject, StringValue(value=value), org_scope="chengdu/test", source="test")


async def write_events(db: Database, topic: Topic, values: list[str], *, per_tx: int = 1) -> list[str]:
    ids = []
    for i in range(0, len(values), per_tx):
        async with db.transaction() as session:
            for value in values[i : i + per_tx]:
                event = topic.event(value)
                await publish_in(session, event)
                ids.append(event.event_id)
    return ids


async def stream_event_ids(bus: EventBus, topic: Topic) -> list[str]:
    """Every event id in the topic's stream, in stream order (duplicates included)."""
    info = await bus.js.stream_info(topic.spec.name)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(topic.spec.name, seq)
        assert msg.data is not None
        ids.append(EventEnvelope.FromString(msg.data).event_id)
    return ids


@dataclass
class Recorder:
    """A handler that records each event it applies; `fail_on` values raise instead."""

    calls: list[str] = field(default_factory=list)
    fail_with: dict[str, BaseException] = field(default_factory=dict)

    async def __call__(self, event: Event, session) -> None:  # type: ignore[no-untyped-def]
        value = event.payload(StringValue).value
        self.calls.append(value)
        conn = await session.connection()
        await conn.execute(applied.insert().values(event_id=event.id, value=value))
        if value in self.fail_with:
            raise self.fail_with[value]


async def create_test_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)


async def applied_counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(applied.c.value, func.count()).group_by(applied.c.value))
        return {value: count for value, count in rows}
