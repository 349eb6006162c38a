"""Fixtures for partner-redemption integration tests: a REAL volunteer-points service (built by
its public app factory, on a database of its own) and partner-redemption on another database,
both on free ports with one real NATS and one manual clock; demo partners seeded; helpers for
terminals, volunteers with points and member sessions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from linli_identity.testing import TestIssuer
from linli_points.app import PointsApp
from linli_points.app import create_app as create_points_app
from linli_points.consumers import REDEMPTION_HOLDS
from linli_points.settings import PointsSettings
from linli_points.tables import KNOWN_ORG_UNITS
from linli_redemption.app import RedemptionApp, RedemptionSettings, create_app

from linli.points.v1 import ledger_pb2, ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_runtime import org_units
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.processes import EmbeddedPostgres, NatsServer
from linli_runtime.testing.waiting import consumer_settled, wait_until

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
HEALTH = "jinchengyijing-health"
# As every replica in a deployment shares one (LINLI_TERMINAL_SECRET_KEY).
TERMINAL_SECRET_KEY = "test-only-terminal-secret-key-0123456789"
CANTEEN = "fengxiang-canteen"
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
def points_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """volunteer-points' own database, on the same engine as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'points.db'}"
        return
    pg: EmbeddedPostgres = request.getfixturevalue("embedded_postgres")
    name = f"p_{uuid.uuid4().hex[:12]}"
    yield pg.database_url(name)  # type: ignore[misc]
    pg.drop_database(name)


@pytest.fixture
async def points_app(points_database_url: str, nats_server: NatsServer, clock: ManualClock,
                     issuer: TestIssuer) -> AsyncIterator[PointsApp]:
    settings = PointsSettings(port=0, database_url=points_database_url, nats_url=nats_server.url,
                              hold_sweep_interval=0.05)
    app = issuer.trust(create_points_app(settings, clock))
    await app.start()
    # The places the tests name, learned as governance's events would teach them.
    await org_units.learn_demo_tree(app.db, KNOWN_ORG_UNITS, clock.now())
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def make_app(database_url: str, nats_server: NatsServer, clock: ManualClock, points_app: PointsApp,
                   issuer: TestIssuer) -> AsyncIterator[Callable[..., Awaitable[RedemptionApp]]]:
    """Start a partner-redemption (again, for restart tests) on the test's database; keyword
    arguments override its settings."""
    apps: list[RedemptionApp] = []

    async def start(**overrides: Any) -> RedemptionApp:
        settings = RedemptionSettings(**{
            **dict(port=0, database_url=database_url, nats_url=nats_server.url,
                   demo_data=True, recovery_interval=0.05, recovery_grace=30,
                   terminal_secret_key=TERMINAL_SECRET_KEY),
            **overrides})
        app = issuer.trust(create_app(settings, clock, points_addr=f"127.0.0.1:{points_app.port}"))
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop(grace=0.5)


@pytest.fixture
async def app(make_app: Callable[[], Awaitable[RedemptionApp]]) -> RedemptionApp:
    return await make_app()


@pytest.fixture
async def channel(app: RedemptionApp) -> AsyncIterator[grpc.aio.Channel]:
    async with make_channel(f"127.0.0.1:{app.port}", default_timeout=30) as ch:
        yield ch


@pytest.fixture
async def points_channel(points_app: PointsApp) -> AsyncIterator[grpc.aio.Channel]:
    async with make_channel(f"127.0.0.1:{points_app.port}", default_timeout=30) as ch:
        yield ch


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def as_service(issuer: TestIssuer) -> Metadata:
    return bearer(issuer.issue_service_token("test"))


@pytest.fixture
def as_worker(issuer: TestIssuer) -> Metadata:
    return bearer(issuer.issue("worker-li", role="community_worker", scope=FENGSHU))


@dataclass
class Kit:
    """What a test needs to act as POS terminals and operators."""

    pos: pos_pb2_grpc.PosServiceStub
    partners: admin_pb2_grpc.PartnerServiceStub
    catalog: admin_pb2_grpc.CatalogServiceStub
    cards: admin_pb2_grpc.MemberCardServiceStub
    settlement: admin_pb2_grpc.SettlementServiceStub
    ledger: ledger_pb2_grpc.LedgerServiceStub
    volunteers: volunteers_pb2_grpc.VolunteerServiceStub
    worker: Metadata
    service: Metadata
    # Has volunteer-points posted the holds of every redemption committed so far (their events
    # published and applied)? A redeem answers once its hold is placed; the post follows.
    settled: Callable[[], Awaitable[bool]]

    async def terminal(self, merchant: str = HEALTH, terminal_id: str = "") -> Metadata:
        reply = await self.partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
            parent=f"merchants/{merchant}", terminal_id=terminal_id or f"t-{uuid.uuid4().hex[:8]}",
            display_name="till"), metadata=self.worker)
        return (("authorization", reply.authorization),)

    async def volunteer(self, points: int, volunteer_id: str = "", name: str = "王秀英", account_id: str = "") -> str:
        """A new volunteer of Fengshu with `points`, bound to `account_id` (the person's account) if given."""
        volunteer_id = volunteer_id or f"v-{uuid.uuid4().hex[:8]}"
        await self.volunteers.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(volunteer=volunteers_pb2.Volunteer(
            community_path=FENGSHU, volunteer_id=volunteer_id, display_name=name, account_id=account_id)),
            metadata=self.service)
        if points:
            await self.ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                community_path=FENGSHU, transfer_id=f"fund-{volunteer_id}", debit_account="system/issuance",
                credit_account=f"volunteers/{volunteer_id}", amount=points, reason="governance"),
                metadata=self.service)
        return volunteer_id

    async def code(self, volunteer_id: str) -> str:
        reply = await self.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
            community_path=FENGSHU, volunteer_id=volunteer_id), metadata=self.worker)
        return str(reply.member_code)

    async def session(self, terminal: Metadata, volunteer_id: str) -> str:
        reply = await self.pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(
            member_code=await self.code(volunteer_id)), metadata=terminal)
        return str(reply.member_session)

    async def reward(self, points: int, stock: int = -1, merchant: str = HEALTH, limit: int = 0,
                     quota: int = 0) -> str:
        reward_id = f"rw-{uuid.uuid4().hex[:8]}"
        await self.catalog.CreateReward(admin_pb2.CreateRewardRequest(
            parent=f"merchants/{merchant}", reward_id=reward_id, reward=resources_pb2.Reward(
                display_name="test reward", points=points, stock=stock, per_volunteer_limit=limit,
                daily_quota=quota)), metadata=self.worker)
        return f"merchants/{merchant}/rewards/{reward_id}"

    async def balance(self, volunteer_id: str) -> ledger_pb2.GetBalanceResponse:
        """The volunteer's balance once the committed redemptions' holds are posted."""
        await wait_until(self.settled, what="volunteer-points posting the committed redemptions' holds")
        reply: ledger_pb2.GetBalanceResponse = await self.ledger.GetBalance(ledger_pb2.GetBalanceRequest(
            community_path=FENGSHU, account=f"volunteers/{volunteer_id}"), metadata=self.service)
        return reply


def holds_posted(app: RedemptionApp, points_app: PointsApp) -> Callable[[], Awaitable[bool]]:
    """Kit.settled: every committed redemption's event published and applied by volunteer-points."""
    async def settled() -> bool:
        # (The outbox is the database's: a restarted app's rows are counted through the first's.)
        return await app.relay.pending() == 0 and await consumer_settled(points_app.bus.js, "REDEMPTION",
                                                                         REDEMPTION_HOLDS)
    return settled


@pytest.fixture
def kit(channel: grpc.aio.Channel, points_channel: grpc.aio.Channel, as_worker: Metadata,
        as_service: Metadata, app: RedemptionApp, points_app: PointsApp) -> Kit:
    return Kit(
        pos=pos_pb2_grpc.PosServiceStub(channel), partners=admin_pb2_grpc.PartnerServiceStub(channel),
        catalog=admin_pb2_grpc.CatalogServiceStub(channel), cards=admin_pb2_grpc.MemberCardServiceStub(channel),
        settlement=admin_pb2_grpc.SettlementServiceStub(channel),
        ledger=ledger_pb2_grpc.LedgerServiceStub(points_channel),
        volunteers=volunteers_pb2_grpc.VolunteerServiceStub(points_channel), worker=as_worker, service=as_service,
        settled=holds_posted(app, points_app))
