"""volunteer-points: `python -m linli_points.main` (settings from the environment)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from linli.points.v1 import ledger_pb2_grpc
from linli_points.api.ledger_servicer import FULL_NAME as LEDGER_SERVICE
from linli_points.api.ledger_servicer import LedgerServicer
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
        self.ledger = Ledger(self.db, self.clock, lambda subject, payload, scope: self.event(
            subject, payload, org_scope=scope))
        self.sweeper = HoldSweeper(self.ledger, interval=settings.hold_sweep_interval)
        self.add_service(ledger_pb2_grpc.add_LedgerServiceServicer_to_server, LedgerServicer(self.ledger),
                         LEDGER_SERVICE)

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
