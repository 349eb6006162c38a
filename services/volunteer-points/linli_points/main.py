"""volunteer-points: `python -m linli_points.main` (settings from the environment)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf.message import Message
from pydantic import Field

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.points.v1 import (
    activities_pb2_grpc,
    adjustments_pb2_grpc,
    awards_pb2_grpc,
    ledger_pb2_grpc,
    pairings_pb2_grpc,
    volunteers_pb2_grpc,
)
from linli_points.api import activities, adjustments, awards, ledger_servicer, pairings, volunteers
from linli_points.demo import seed_demo
from linli_points.help_requests import help_request_consumer
from linli_points.ledger.store import Ledger
from linli_points.ledger.sweeper import HoldSweeper
from linli_runtime.clock import Clock
from linli_runtime.events.streams import NOTIFICATION, POINTS
from linli_runtime.migrations import MigrationSet
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings

MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")


class PointsSettings(ServiceSettings):
    service_name: str = "volunteer-points"
    # Seconds between sweeps for holds past their timeout.
    hold_sweep_interval: float = Field(default=1.0, gt=0)


class PointsApp(ServiceApp):
    """The service: the runtime's app plus the ledger and its hold sweeper."""

    def __init__(self, settings: PointsSettings, clock: Clock | None = None) -> None:
        super().__init__("volunteer-points", settings, migrations=[MIGRATIONS], streams=[POINTS, NOTIFICATION],
                         clock=clock)
        self.ledger = Ledger(self.db, self.clock, self.make_event)
        self.sweeper = HoldSweeper(self.ledger, interval=settings.hold_sweep_interval)
        self.add_service(ledger_pb2_grpc.add_LedgerServiceServicer_to_server,
                         ledger_servicer.LedgerServicer(self.ledger), ledger_servicer.FULL_NAME)
        self.add_service(volunteers_pb2_grpc.add_VolunteerServiceServicer_to_server,
                         volunteers.VolunteerServicer(self.db, self.clock), volunteers.FULL_NAME)
        self.add_service(activities_pb2_grpc.add_ActivityServiceServicer_to_server,
                         activities.ActivityServicer(self.ledger), activities.FULL_NAME)
        self.add_service(pairings_pb2_grpc.add_PairingServiceServicer_to_server,
                         pairings.PairingServicer(self.db, self.clock, self.make_event), pairings.FULL_NAME)
        self.add_service(awards_pb2_grpc.add_AwardServiceServicer_to_server,
                         awards.AwardServicer(self.db, self.clock, self.make_event), awards.FULL_NAME)
        self.add_service(adjustments_pb2_grpc.add_AdjustmentServiceServicer_to_server,
                         adjustments.AdjustmentServicer(self.ledger), adjustments.FULL_NAME)
        self.add_consumer(help_request_consumer(self.ledger))
        if settings.demo_data:
            self.on_start(lambda app: seed_demo(self))

    def make_event(self, subject: str, payload: Message, scope: str) -> EventEnvelope:
        """An envelope from this service for an event about `scope`."""
        envelope: EventEnvelope = self.event(subject, payload, org_scope=scope)
        return envelope

    async def start(self) -> int:
        port = await super().start()
        self.sweeper.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        await self.sweeper.stop()
        await super().stop(grace)


def create_app(settings: PointsSettings | None = None, clock: Clock | None = None) -> PointsApp:
    return PointsApp(settings or PointsSettings(), clock)


if __name__ == "__main__":
    create_app().main()
