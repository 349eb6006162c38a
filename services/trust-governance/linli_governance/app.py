"""Assembling trust-governance: its servicers on the runtime's ServiceApp, demo data on
request. `python -m linli_governance.app` runs it (settings from the environment)."""

from __future__ import annotations

from pathlib import Path

from linli.governance.v1 import (
    account_pb2,
    account_pb2_grpc,
    bodies_pb2,
    bodies_pb2_grpc,
    disclosure_pb2,
    disclosure_pb2_grpc,
    org_pb2,
    org_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
    rollout_pb2,
    rollout_pb2_grpc,
    vote_pb2,
    vote_pb2_grpc,
)
from linli_governance import consumers, votes
from linli_governance.api.account import TrustAccountServicer
from linli_governance.api.bodies import GovernanceBodyServicer, ProjectServicer
from linli_governance.api.disclosure import DisclosureServicer
from linli_governance.api.org import OrgServicer, RolloutServicer
from linli_governance.api.vote import VoteServicer
from linli_governance.chain_heads import HeadKeeper, HeadRegister, JetStreamHeadRegister
from linli_governance.demo import seed_demo_data
from linli_governance.settings import GovernanceSettings
from linli_governance.vouchers import make_store
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE
from linli_runtime.migrations import MigrationSet
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.tasks import PeriodicTask

NAME = "trust-governance"
MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")


class GovernanceApp(ServiceApp):
    """The ServiceApp with the seven governance services mounted, the voucher store, and the
    register of published chain heads kept by a consumer of the service's own
    `governance.disclosure.published` events. A pending expense lapses when it is next decided on
    or at the period close."""

    def __init__(
        self, settings: ServiceSettings, *, clock: Clock | None = None, heads: HeadRegister | None = None
    ) -> None:
        settings = settings if isinstance(settings, GovernanceSettings) else GovernanceSettings(**settings.model_dump())
        super().__init__(NAME, settings, migrations=[MIGRATIONS], streams=[GOVERNANCE], clock=clock)
        self.governance_settings = settings
        self.vouchers = make_store(settings)
        self.heads: HeadRegister = heads or JetStreamHeadRegister(self.bus)
        self.add_service(
            org_pb2_grpc.add_OrgServiceServicer_to_server,
            OrgServicer(self),
            org_pb2.DESCRIPTOR.services_by_name["OrgService"].full_name,
        )
        self.add_service(
            rollout_pb2_grpc.add_RolloutServiceServicer_to_server,
            RolloutServicer(self),
            rollout_pb2.DESCRIPTOR.services_by_name["RolloutService"].full_name,
        )
        self.add_service(
            account_pb2_grpc.add_TrustAccountServiceServicer_to_server,
            TrustAccountServicer(self),
            account_pb2.DESCRIPTOR.services_by_name["TrustAccountService"].full_name,
        )
        self.add_service(
            vote_pb2_grpc.add_VoteServiceServicer_to_server,
            VoteServicer(self),
            vote_pb2.DESCRIPTOR.services_by_name["VoteService"].full_name,
        )
        self.add_service(
            disclosure_pb2_grpc.add_DisclosureServiceServicer_to_server,
            DisclosureServicer(self),
            disclosure_pb2.DESCRIPTOR.services_by_name["DisclosureService"].full_name,
        )
        self.add_service(
            bodies_pb2_grpc.add_GovernanceBodyServiceServicer_to_server,
            GovernanceBodyServicer(self),
            bodies_pb2.DESCRIPTOR.services_by_name["GovernanceBodyService"].full_name,
        )
        self.add_service(
            project_pb2_grpc.add_ProjectServiceServicer_to_server,
            ProjectServicer(self),
            project_pb2.DESCRIPTOR.services_by_name["ProjectService"].full_name,
        )
        for spec in consumers.specs(HeadKeeper(self.heads)):
            self.add_consumer(spec)
        # Votes open and close on their schedule by this clock; 0 turns the loop off (tests run
        # its passes themselves with a ManualClock).
        self.vote_schedule = PeriodicTask(
            "governance-vote-schedule",
            lambda: votes.run_schedule(self.db, self.clock.now()),
            interval=settings.vote_schedule_interval or 1.0,
        )
        if settings.demo_data:
            self.on_start(seed_demo_data)


    async def start(self) -> int:
        port = await super().start()
        if self.governance_settings.vote_schedule_interval > 0:
            self.vote_schedule.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        await self.vote_schedule.stop()
        await super().stop(grace)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> GovernanceApp:
    return GovernanceApp(settings or GovernanceSettings(), clock=clock)


def main() -> None:
    create_app().main()


if __name__ == "__main__":
    main()
