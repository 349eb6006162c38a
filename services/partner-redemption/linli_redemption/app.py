"""partner-redemption: `python -m linli_redemption.app` (settings from the environment).

The app builds the domain objects, mounts the servicers, and runs the recovery loop (stuck
redemptions, unfinished refunds) as a `PeriodicTask`. PosService is served on the service's port
and on the public POS edge (LINLI_POS_PORT: a listener of its own, TLS only, serving PosService
and health alone); every other API only on the service's port, which stays inside the platform.
It holds one long-lived channel to volunteer-points, authenticated with this service's own
token (its client credentials at the platform's issuer, `ServiceApp.credentials`, renewed
before they expire) and, over TLS, with its certificate when mTLS asks for one.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta
from pathlib import Path

import grpc

from linli.redemption.v1 import admin_pb2_grpc, community_pb2_grpc, pos_pb2_grpc
from linli_redemption.api import cards, catalog, community, partners, pos, redemptions, settlement
from linli_redemption.api.writes import Writes
from linli_redemption.catalog import Catalog
from linli_redemption.community import Community
from linli_redemption.consumers import consumers
from linli_redemption.demo import seed_demo
from linli_redemption.duty import Duty
from linli_redemption.members import Members
from linli_redemption.partners import Partners
from linli_redemption.points_client import PointsClient
from linli_redemption.pos_guard import PosGuard
from linli_redemption.projects import Projects
from linli_redemption.redemption_list import RedemptionList
from linli_redemption.redemption_store import SqlRedemptionStore
from linli_redemption.redemptions import Redemptions
from linli_redemption.settings import RedemptionSettings
from linli_redemption.settlement import Settlement
from linli_redemption.tables import KNOWN_ORG_UNITS, Redemption
from linli_redemption.terminal_cache import TerminalCache
from linli_redemption.terminal_secrets import SecretMaker
from linli_redemption.terminals import TerminalAuthenticator, Terminals
from linli_runtime.clients import make_channel
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE, REDEMPTION
from linli_runtime.migrations import MigrationSet
from linli_runtime.org_units import KnownUnits
from linli_runtime.server import INTERNAL, ServiceApp
from linli_runtime.tasks import PeriodicTask

log = logging.getLogger("linli.redemption")
# The public listener terminals reach (see the module docstring).
POS_EDGE = "pos"
MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")
POINTS_ADDR_ENV = "VOLUNTEER_POINTS_SERVICE_ADDR"
# TEST ONLY — never set in a deployment. `LINLI_FAULT_KILL_AT=redeem.after_hold` makes the
# process SIGKILL itself right after volunteer-points answered PlaceHold, before anything is
# committed here: the crash the recovery loop exists for, made with a real process death
# (tests/e2e/redemption/test_kill_between_hold_and_commit.py). Read once at start-up.
FAULT_ENV = "LINLI_FAULT_KILL_AT"
FAULT_POINTS = frozenset({"redeem.after_hold"})

__all__ = ["MIGRATIONS", "RedemptionApp", "RedemptionSettings", "create_app", "main"]


def install_fault(redemptions: Redemptions, where: str) -> None:
    """Arm the test-only fault point `where` (see FAULT_ENV)."""
    if where not in FAULT_POINTS:
        raise RuntimeError(f"{FAULT_ENV}={where!r}: the fault points are {', '.join(sorted(FAULT_POINTS))}")
    log.warning("TEST FAULT ARMED: this process will SIGKILL itself after a PlaceHold",
                extra={"fault": where})

    async def die(row: Redemption) -> None:
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)

    redemptions.after_hold = die


class RedemptionApp(ServiceApp):
    def __init__(self, settings: RedemptionSettings, clock: Clock | None = None,
                 points_addr: str | None = None) -> None:
        terminal_auth = TerminalAuthenticator(cache=TerminalCache(ttl=settings.terminal_cache_seconds))
        super().__init__("partner-redemption", settings, migrations=[MIGRATIONS], streams=[REDEMPTION, GOVERNANCE],
                         clock=clock, authenticators=[terminal_auth])
        terminal_auth.db = self.db
        self.points_addr = points_addr or os.environ.get(POINTS_ADDR_ENV, "")
        if not self.points_addr:
            raise RuntimeError(f"{POINTS_ADDR_ENV} must say where volunteer-points listens (host:port)")
        self.points_channel: grpc.aio.Channel | None = None
        self.points = PointsClient()

        # The domain.
        self.partners = Partners(self.db, self.clock, terminal_auth.cache)
        self.terminals = Terminals(self.db, self.clock, SecretMaker(
            settings.terminal_secret_key, timedelta(hours=settings.terminal_secret_replay_hours)), terminal_auth.cache)
        self.writes = Writes(self.db, self.clock)
        self.catalog = Catalog(self.db, self.clock)
        self.pos_guard = PosGuard(self.db, self.clock, settings.pos_limits())
        self.members = Members(self.db, self.clock, self.points, self.pos_guard)
        # The store counts the redeem limits inside its reserve transaction (one per batch of redeems).
        self.redemptions = Redemptions(SqlRedemptionStore(self.db, guard=self.pos_guard), self.points, self.clock,
                                       self.make_event, refund_window=timedelta(hours=settings.refund_window_hours))
        self.settlement = Settlement(self.db, self.points, self.clock)
        self.redemption_list = RedemptionList(self.db)
        self.duty = Duty(self.db)
        self.community = Community(self.db, self.clock, self.make_event)
        self.projects = Projects(self.db, self.clock, self.make_event)
        # The places trust-governance announced: new things go only where one is known and open.
        self.places = KnownUnits(self.db, KNOWN_ORG_UNITS, "partner-redemption")
        recovery_grace = timedelta(seconds=settings.recovery_grace)
        self.recovery = PeriodicTask("redemption-recovery", lambda: self.redemptions.recover_once(recovery_grace),
                                     interval=settings.recovery_interval)

        # The servicers: PosService on the public edge too, the rest on the service's own port only.
        pos_port = settings.wanted_pos_port()
        edge: tuple[str, ...] = (INTERNAL,)
        if pos_port is not None:
            self.add_listener(POS_EDGE, pos_port, public=True,
                              tls=self.grpc_tls.with_certificate(settings.pos_tls_cert, settings.pos_tls_key))
            edge = (INTERNAL, POS_EDGE)
        self.add_service(pos_pb2_grpc.add_PosServiceServicer_to_server,
                         pos.PosServicer(self.members, self.redemptions, self.catalog, self.settlement, self.points,
                                         self.clock), pos.FULL_NAME, listeners=edge)
        self.add_service(admin_pb2_grpc.add_PartnerServiceServicer_to_server,
                         partners.PartnerServicer(self.partners, self.terminals, self.writes, self.places),
                         partners.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_CatalogServiceServicer_to_server,
                         catalog.CatalogServicer(self.partners, self.catalog), catalog.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_MemberCardServiceServicer_to_server,
                         cards.MemberCardServicer(self.members, self.points), cards.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_SettlementServiceServicer_to_server,
                         settlement.SettlementServicer(self.partners, self.settlement, self.clock),
                         settlement.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_RedemptionAdminServiceServicer_to_server,
                         redemptions.RedemptionAdminServicer(self.partners, self.redemption_list, self.points),
                         redemptions.FULL_NAME)
        self.add_service(community_pb2_grpc.add_CommunityServiceServicer_to_server,
                         community.CommunityServicer(self.duty, self.community, self.projects, self.writes,
                                                     self.places),
                         community.FULL_NAME)
        for spec in consumers(self.clock):
            self.add_consumer(spec)

        if os.environ.get(FAULT_ENV):
            install_fault(self.redemptions, os.environ[FAULT_ENV])
        if settings.demo_data:
            self.on_start(lambda app: seed_demo(self.db, self.clock))

    async def start(self) -> int:
        self.points_channel = make_channel(self.points_addr, token=self.credentials(), tracing=self.tracing,
                                           tls=self.grpc_tls)
        self.points.bind(self.points_channel)
        port = await super().start()
        self.recovery.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        # The current recovery pass finishes first: one cut off inside a transaction can wedge SQLite.
        await self.recovery.stop()
        await super().stop(grace)
        if self.points_channel is not None:
            await self.points_channel.close()


def create_app(settings: RedemptionSettings | None = None, clock: Clock | None = None,
               points_addr: str | None = None) -> RedemptionApp:
    return RedemptionApp(settings or RedemptionSettings(), clock, points_addr)


def main() -> None:
    create_app().main()


if __name__ == "__main__":
    main()
