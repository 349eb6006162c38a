"""A test-only service for the clustered fault tests: EchoService, but every accepted call also
writes one event through the outbox (`pulse.beat.sent`) and a durable consumer records every
event it applies in `pulse_received` (no unique constraint: a duplicate would show as a second
row). The same request id twice publishes one event, as a real service's idempotent write does.
It isolates the runtime's event path (outbox, relay, JetStream cluster, inbox) from any service's
logic; test_platform_faults.py runs the same faults with the platform's own services.

Run as `python -m tests.e2e.deploy.pulse_service` with the repository root on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import os

import grpc
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.context import current_request_id
from linli_runtime.errors import InvalidArgument
from linli_runtime.events import ConsumerSpec, Event, OutboxRelay, StreamSpec, make_event, publish_in
from linli_runtime.events.tables import OUTBOX
from linli_runtime.nats_access import ServiceAccess
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME

PULSE = StreamSpec("PULSE", ("pulse.>",), "fault-test beats")
# Its NATS user: its own subjects, its stream and its consumer (linli_runtime.nats_access).
PULSE_ACCESS = ServiceAccess("pulse", "pulse", ("PULSE",), consumers=(("PULSE", "pulse-counter"),))
REPLICA_HEADER = "x-linli-replica"

metadata = MetaData()
received = Table(
    "pulse_received",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("message", String(255), nullable=False),
    Column("replica", String(64), nullable=False),
)


def event_id_for(request_id: str) -> str:
    return hashlib.sha256(f"pulse:{request_id}".encode()).hexdigest()[:32]


class PulseServicer(echo_pb2_grpc.EchoServiceServicer):
    def __init__(self, app: ServiceApp, replica: str) -> None:
        self.app = app
        self.replica = replica

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        if not request.message:
            raise InvalidArgument.field("message", "must not be empty")
        request_id = current_request_id() or ""
        event_id = event_id_for(request_id)
        event = make_event("pulse.beat.sent", echo_pb2.EchoRequest(message=request.message), org_scope="",
                           source=self.app.name, clock=self.app.clock, event_id=event_id)
        try:
            async with self.app.db.transaction() as session:
                conn = await session.connection()
                # Written and not yet sent: the same event. (Once sent its row is gone on PostgreSQL:
                # a retry then publishes the event again, same id, and JetStream's dedup window or
                # the consumers' inbox drops it.)
                seen = await conn.execute(select(OUTBOX.c.event_id).where(OUTBOX.c.event_id == event_id))
                if seen.first() is None:
                    await publish_in(session, event)
        except IntegrityError:
            pass  # the same request id committed concurrently on another replica: same answer
        context.set_trailing_metadata(((REPLICA_HEADER, self.replica),))
        return echo_pb2.EchoResponse(message=request.message, request_id=request_id)


def pulse_app(settings: ServiceSettings) -> ServiceApp:
    replica = f"{settings.service_name}@{settings.port}"
    app = ServiceApp(settings.service_name, settings, streams=[PULSE])
    # A replica killed while its batch is in flight leaves the rows to the others as soon as its
    # connection drops (its claim rolls back); what it had published goes out again, and
    # JetStream's dedup and the inbox absorb it.
    app.relay = OutboxRelay(app.db, app.bus, service=app.name, clock=app.clock)
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, PulseServicer(app, replica), FULL_NAME)

    async def create_table(app: ServiceApp) -> None:
        async with app.db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def on_beat(event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(received.insert().values(event_id=event.id, replica=replica,
                                                    message=event.payload(echo_pb2.EchoRequest).message))

    app.on_start(create_table)
    app.add_consumer(ConsumerSpec(name="pulse-counter", stream=PULSE.name, subjects=["pulse.>"], handler=on_beat,
                                  ack_wait=5, nak_delays=(0.2, 0.5, 1)))
    return app


if __name__ == "__main__":
    pulse_app(ServiceSettings(service_name=os.environ.get("LINLI_SERVICE_NAME", "pulse"))).main()
