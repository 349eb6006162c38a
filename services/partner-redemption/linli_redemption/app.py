"""partner-redemption: `python -m linli_redemption.main` (settings from the environment)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import grpc
from google.protobuf.message import Message
from pydantic import Field

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.redemption.v1 import admin_pb2_grpc, community_pb2_grpc, pos_pb2_grpc
from linli_redemption import api_admin, api_community, api_pos
from linli_redemption.demo import seed_demo
from linli_redemption.members import Members
from linli_redemption.points_client import PointsClient
from linli_redemption.redemptions import Redemptions
from linli_redemption.terminals import TerminalAuthenticator
from linli_runtime.clients import make_channel
from linli_runtime.clock import Clock
from linli_runtime.events.streams import REDEMPTION
from linli_runtime.migrations import MigrationSet
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings

log = logging.getLogger("linli.redemption")
MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")
POINTS_ADDR_ENV = "VOLUNTEER_POINTS_SERVICE_ADDR"
# TEST ONLY — never set in a deployment. `LINLI_FAULT_KILL_AT=redeem.after_hold` makes the
# process SIGKILL itself right after volunteer-points answered PlaceHold, before anything is
# committed here: the crash the recovery loop exists for, made with a real process death
# (tests/e2e/redemption/test_kill_between_hold_and_commit.py). Read once at start-up.
FAULT_ENV = "LINLI_FAULT_KILL_AT"
FAULT_POINTS = frozenset({"redeem.after_hold"})


def install_fault(redemptions: Redemptions, where: str) -> None:
    """Arm the test-only fault point `where` (see FAULT_ENV)."""
    if where not in FAULT_POINTS:
        raise RuntimeError(f"{FAULT_ENV}={where!r}: the fault points are {', '.join(sorted(FAULT_POINTS))}")
    log.warning("TEST FAULT ARMED: this process will SIGKILL itself after a PlaceHold",
                extra={"fault": where})

    async def die(row: object) -> None:
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)

    redemptions.after_hold = die


class RedemptionSettings(ServiceSettings):
    service_name: str = "partner-redemption"
    # Seconds between passes of the recovery loop (stuck redemptions, unfinished refunds).
    recovery_interval: float = Field(default=5.0, gt=0)
    # A PENDING redemption older than this (seconds) is settled by recovery, not by its call.
    recovery_grace: float = Field(default=60.0, ge=0)
    # How long after a redemption a refund is allowed (hours).
    refund_window_hours: float = Field(default=168.0, gt=0)


class ServiceToken:
    """This service's token for volunteer-points, re-issued well before it expires."""

    def __init__(self, app: ServiceApp, ttl: int = 24 * 3600) -> None:
        self.app, self.ttl = app, ttl
        self._token, self._issued = "", 0.0

    def __call__(self) -> str:
        if time.monotonic() - self._issued > self.ttl / 2 or not self._token:
            self._token = self.app.signer.issue_service_token(self.app.name, ttl_seconds=self.ttl)
            self._issued = time.monotonic()
        return self._token


class RedemptionApp(ServiceApp):
    def __init__(self, settings: RedemptionSettings, clock: Clock | None = None,
                 points_addr: str | None = None) -> None:
        terminal_auth = TerminalAuthenticator()
        super().__init__("partner-redemption", settings, migrations=[MIGRATIONS], streams=[REDEMPTION], clock=clock,
                         authenticators=[terminal_auth])
        terminal_auth.db = self.db
        self.recovery_interval = settings.recovery_interval
        self.recovery_grace = timedelta(seconds=settings.recovery_grace)
        self.points_addr = points_addr or os.environ.get(POINTS_ADDR_ENV, "")
        if not self.points_addr:
            raise RuntimeError(f"{POINTS_ADDR_ENV} must say where volunteer-points listens (host:port)")
        self.points_channel: grpc.aio.Channel | None = None
        self.points = PointsClient()
        self.members = Members(self.db, self.clock, self.points)
        self.redemptions = Redemptions(self.db, self.clock, self.points, self.members, self.make_event,
                                       refund_window=timedelta(hours=settings.refund_window_hours))
        self.add_service(pos_pb2_grpc.add_PosServiceServicer_to_server,
                         api_pos.PosServicer(self.db, self.members, self.redemptions), api_pos.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_PartnerServiceServicer_to_server,
                         api_admin.PartnerServicer(self.db, self.clock), api_admin.full_name("PartnerService"))
        self.add_service(admin_pb2_grpc.add_CatalogServiceServicer_to_server,
                         api_admin.CatalogServicer(self.db, self.clock), api_admin.full_name("CatalogService"))
        self.add_service(admin_pb2_grpc.add_MemberCardServiceServicer_to_server,
                         api_admin.MemberCardServicer(self.members), api_admin.full_name("MemberCardService"))
        self.add_service(community_pb2_grpc.add_CommunityServiceServicer_to_server,
                         api_community.CommunityServicer(self.db, self.clock, self.make_event),
                         api_community.FULL_NAME)
        self.add_service(admin_pb2_grpc.add_SettlementServiceServicer_to_server,
                         api_admin.SettlementServicer(self.db, self.clock, self.points),
                         api_admin.full_name("SettlementService"))
        if os.environ.get(FAULT_ENV):
            install_fault(self.redemptions, os.environ[FAULT_ENV])
        if settings.demo_data:
            self.on_start(lambda app: seed_demo(self))
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def make_event(self, subject: str, payload: Message, scope: str) -> EventEnvelope:
        envelope: EventEnvelope = self.event(subject, payload, org_scope=scope)
        return envelope

    async def start(self) -> int:
        self.points_channel = make_channel(self.points_addr, token=ServiceToken(self))
        self.points.bind(self.points_channel)
        port = await super().start()
        self._recovery = asyncio.create_task(self._recover_forever(), name="redemption-recovery")
        return port

    async def stop(self, grace: float | None = None) -> None:
        if self._recovery is not None:
            # Let the current pass finish: cancelling it inside a transaction can wedge SQLite.
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._recovery), 15)
            except TimeoutError:
                self._recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._recovery
        await super().stop(grace)
        if self.points_channel is not None:
            await self.points_channel.close()

    async def _recover_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.redemptions.recover_once(self.recovery_grace)
            except Exception:  # the ledger may be down: try again next round
                log.warning("recovery pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.recovery_interval)


def create_app(settings: RedemptionSettings | None = None, clock: Clock | None = None,
               points_addr: str | None = None) -> RedemptionApp:
    return RedemptionApp(settings or RedemptionSettings(), clock, points_addr)


if __name__ == "__main__":
    create_app().main()
