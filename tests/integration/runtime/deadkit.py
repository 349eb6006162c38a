"""A service whose consumer refuses events about things it does not know yet — as poison — so
that a test can make a dead letter, fix the cause (`known`), and replay it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.wrappers_pb2 import StringValue
from linli_identity.testing import TestIssuer
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.runtime.v1 import dead_letters_pb2 as pb
from linli.runtime.v1 import dead_letters_pb2_grpc as pb_grpc
from linli_runtime.auth import PrincipalKind
from linli_runtime.clock import ManualClock
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage, StreamSpec
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.waiting import wait_until
from tests.integration.runtime.eventkit import Topic, applied, create_test_tables, write_events

CONSUMER = "test-things"
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Things:
    """The consumer's handler: an event naming a thing nobody `know`s yet is poison."""

    known: set[str] = field(default_factory=set)

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        value = event.payload(StringValue).value
        if value not in self.known:
            raise PoisonMessage(f"thing {value!r} is unknown here")
        await (await session.connection()).execute(applied.insert().values(event_id=event.id, value=value))


@dataclass
class Poisoned:
    app: ServiceApp
    topic: Topic
    things: Things
    channel: grpc.aio.Channel
    issuer: TestIssuer

    @property
    def stub(self) -> Any:
        return pb_grpc.DeadLetterServiceStub(self.channel)

    def md(self, role: str, scope: str = "", kind: PrincipalKind = PrincipalKind.PERSON) -> Metadata:
        return (("authorization", f"Bearer {self.issuer.issue('op-' + role, role=role, scope=scope, kind=kind)}"),)

    @property
    def admin(self) -> Metadata:
        return self.md("platform_admin")

    async def poison(self, value: str) -> str:
        """Publish an event about `value` and wait for it to land in the dead letters; its name."""
        [event_id] = await write_events(self.app.db, self.topic, [value])

        async def landed() -> str:
            listed = await self.stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=self.admin)
            return next((d.name for d in listed.dead_letters if d.event_id == event_id), "")

        return str(await wait_until(landed, what=f"the event about {value!r} to be dead-lettered"))


async def poisoned_service(database_url: str, nats_url: str, issuer: TestIssuer, clock: ManualClock, *,
                           name: str = "") -> AsyncIterator[Poisoned]:
    """A ServiceApp (called `name`, else a name of the test's own) publishing to and consuming
    from a stream of its own: its subjects are `<context>.>`, the context being what follows
    the last '-' in its name, where the runtime announces what operators do with dead letters."""
    if name:
        context = name.rsplit("-", 1)[-1]
        topic = Topic(StreamSpec(f"T{uuid.uuid4().hex[:10]}".upper(), (f"{context}.>",),
                                 duplicate_window_seconds=120), context)
    else:
        topic = Topic.new()
        name = f"test-{topic.root}"
    app = issuer.trust(ServiceApp(name, ServiceSettings(port=0, database_url=database_url, nats_url=nats_url),
                                  streams=[topic.spec], clock=clock))
    assert app.context == topic.root
    things = Things()
    app.add_consumer(ConsumerSpec(name=CONSUMER, stream=topic.spec.name, subjects=[topic.subject], handler=things,
                                  max_deliver=2, nak_delays=(0.05,)))
    await app.start()
    await create_test_tables(app.db)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield Poisoned(app, topic, things, channel, issuer)
    finally:
        await app.stop(grace=0.5)
