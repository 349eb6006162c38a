"""volunteer-points: `python -m linli_points.app` (settings from the environment).

`PointsApp` builds the domain — the ledger, funding sources, people, activities, help credits,
pairings, rankings, awards, adjustments — mounts their servicers, adds the help-request consumer, and runs the hold
sweeper and the care schedule (mid-month reminders, month closes) while the service serves.
"""

from __future__ import annotations

from pathlib import Path

from linli.points.v1 import (
    activities_pb2_grpc,
    adjustments_pb2_grpc,
    awards_pb2_grpc,
    funding_pb2_grpc,
    ledger_pb2_grpc,
    pairings_pb2_grpc,
    volunteers_pb2_grpc,
)
from linli_points.activities import Activities
from linli_points.adjustments import Adjustments
from linli_points.api import activities, adjustments, awards, funding, ledger, pairings, volunteers
from linli_points.awards import Awards
from linli_points.care import care_schedule
from linli_points.community_summary import CommunitySummaries
from linli_points.consumers import help_request_credits, org_units, redemption_holds
from linli_points.demo import seed_demo
from linli_points.funding import Funding
from linli_points.help_credits import HelpCredits
from linli_points.ledger.store import Ledger
from linli_points.ledger.sweeper import hold_sweeper
from linli_points.pairings import Pairings
from linli_points.people import People
from linli_points.profiles import Profiles
from linli_points.rankings import Rankings
from linli_points.roster import Roster
from linli_points.settings import PointsSettings
from linli_points.solo_limits import Limits
from linli_points.tables import KNOWN_ORG_UNITS
from linli_points.workers import Workers
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE, NOTIFICATION, POINTS, REDEMPTION
from linli_runtime.migrations import MigrationSet
from linli_runtime.org_units import KnownUnits
from linli_runtime.server import ServiceApp

MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")


class PointsApp(ServiceApp):
    """The service: the runtime's app, the domain objects, the hold sweeper and the care schedule."""

    def __init__(self, settings: PointsSettings, clock: Clock | None = None) -> None:
        super().__init__("volunteer-points", settings, migrations=[MIGRATIONS],
                         streams=[POINTS, NOTIFICATION, GOVERNANCE, REDEMPTION], clock=clock)
        self.ledger = Ledger(self.db, self.clock, self.make_event)
        self.sweeper = hold_sweeper(self.ledger, interval=settings.hold_sweep_interval)
        self.people = People(self.db, self.clock, self.make_event)
        self.workers = Workers(settings.worker_processes)
        self.roster = Roster(self.db, self.clock, self.workers)
        self.activities = Activities(self.db, self.clock, self.ledger, Limits(
            daily=settings.activity_solo_daily_limit, monthly=settings.activity_solo_monthly_limit))
        self.pairings = Pairings(self.db, self.clock, self.make_event, self.ledger)
        self.care = care_schedule(self.pairings, self.clock, interval=settings.care_check_interval,
                                  reminder_day=settings.care_reminder_day)
        self.rankings = Rankings(self.db)
        self.awards = Awards(self.db, self.clock, self.make_event, self.workers, settings.certificate_font)
        self.adjustments = Adjustments(self.ledger)
        self.funding = Funding(self.ledger)
        self.help_credits = HelpCredits(self.db, self.clock, self.ledger, Limits(
            daily=settings.help_credit_daily_limit, monthly=settings.help_credit_monthly_limit))
        # The places trust-governance announced: new things go only where one is known and open.
        self.places = KnownUnits(self.db, KNOWN_ORG_UNITS, "volunteer-points")
        for register, servicer, full_name in (
            (ledger_pb2_grpc.add_LedgerServiceServicer_to_server, ledger.LedgerServicer(self.ledger, self.people),
             ledger.FULL_NAME),
            (volunteers_pb2_grpc.add_VolunteerServiceServicer_to_server,
             volunteers.VolunteerServicer(self.people, self.roster, self.places, Profiles(self.db)),
             volunteers.FULL_NAME),
            (activities_pb2_grpc.add_ActivityServiceServicer_to_server,
             activities.ActivityServicer(self.activities, self.help_credits, self.people, self.places),
             activities.FULL_NAME),
            (pairings_pb2_grpc.add_PairingServiceServicer_to_server,
             pairings.PairingServicer(self.pairings, self.people, self.places), pairings.FULL_NAME),
            (awards_pb2_grpc.add_AwardServiceServicer_to_server,
             awards.AwardServicer(self.awards, self.rankings, self.people, CommunitySummaries(self.db)),
             awards.FULL_NAME),
            (adjustments_pb2_grpc.add_AdjustmentServiceServicer_to_server,
             adjustments.AdjustmentServicer(self.adjustments), adjustments.FULL_NAME),
            (funding_pb2_grpc.add_FundingServiceServicer_to_server, funding.FundingServicer(self.funding, self.places),
             funding.FULL_NAME),
        ):
            self.add_service(register, servicer, full_name)
        self.add_consumer(help_request_credits(self.help_credits))
        self.add_consumer(org_units(self.clock))
        self.add_consumer(redemption_holds(self.ledger))  # partner-redemption's committed redemptions
        if settings.demo_data:
            self.on_start(lambda app: seed_demo(self))

    async def start(self) -> int:
        port = await super().start()
        self.sweeper.start()
        self.care.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        await self.sweeper.stop()
        await self.care.stop()
        await super().stop(grace)
        await self.workers.close()


def create_app(settings: PointsSettings | None = None, clock: Clock | None = None) -> PointsApp:
    return PointsApp(settings or PointsSettings(), clock)


def main() -> None:
    create_app().main()


if __name__ == "__main__":
    main()
