"""Fixtures for volunteer-points integration tests: a migrated database with a ledger on a
manual clock, the whole service on a free port with real NATS, and — for what crosses services
by event — the notification service beside it, on its own database and the same clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.demo import seed
from linli_notification.settings import NotificationSettings
from linli_points.app import MIGRATIONS, PointsApp, create_app
from linli_points.ledger.store import Ledger
from linli_points.settings import PointsSettings
from linli_points.tables import KNOWN_ORG_UNITS

from linli.points.v1 import (
    activities_pb2_grpc,
    adjustments_pb2_grpc,
    awards_pb2_grpc,
    funding_pb2_grpc,
    ledger_pb2_grpc,
    pairings_pb2_grpc,
    volunteers_pb2_grpc,
)
from linli.points.v1 import volunteers_pb2 as vpb
from linli_runtime import org_units
from linli_runtime.auth import PrincipalKind
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.events import EventFactory
from linli_runtime.events.streams import POINTS
from linli_runtime.events.tables import INBOX
from linli_runtime.migrations import upgrade
from linli_runtime.processes import EmbeddedPostgres, NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.published import published as published_in_stream

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"

Metadata = tuple[tuple[str, str], ...]
M = TypeVar("M", bound=Message)


@pytest.fixture
async def points_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database, MIGRATIONS)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def ledger(points_db: Database, clock: ManualClock) -> Ledger:
    return Ledger(points_db, clock, EventFactory("test", clock))


@pytest.fixture
async def app(database_url: str, nats_server: NatsServer, clock: ManualClock,
              issuer: TestIssuer) -> AsyncIterator[PointsApp]:
    settings = PointsSettings(port=0, database_url=database_url, nats_url=nats_server.url,
                              hold_sweep_interval=0.05)
    app = issuer.trust(create_app(settings, clock))
    await app.start()
    # The places the tests name, learned as governance's events would teach them.
    await org_units.learn_demo_tree(app.db, KNOWN_ORG_UNITS, clock.now())
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def channel(app: PointsApp) -> AsyncIterator[grpc.aio.Channel]:
    async with make_channel(f"127.0.0.1:{app.port}") as channel:
        yield channel


@pytest.fixture
def ledger_stub(channel: grpc.aio.Channel) -> ledger_pb2_grpc.LedgerServiceStub:
    return ledger_pb2_grpc.LedgerServiceStub(channel)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def as_service(issuer: TestIssuer) -> Metadata:
    return bearer(issuer.issue_service_token("partner-redemption"))


@pytest.fixture
def as_worker(issuer: TestIssuer) -> Metadata:
    return bearer(issuer.issue("worker-li", role="community_worker", scope=FENGSHU))


def account_of(volunteer_id: str, path: str = FENGSHU) -> str:
    """The account a test binds to `volunteer_id` of `path`: one per (community, volunteer), as
    the issuer's accounts are one per person."""
    return f"acc-{path.rsplit('/', 1)[-1]}-{volunteer_id}"


@pytest.fixture
def as_volunteer(channel: grpc.aio.Channel, as_worker: Metadata,
                 issuer: TestIssuer) -> Callable[..., Awaitable[Metadata]]:
    """`await as_volunteer("v-wan")`: the volunteer exists in Fengshu (made if need be) bound to
    its own account, and this is that person's volunteer token (volunteer-points recognises a
    volunteer's own calls by the binding, not by a volunteer id in the token)."""
    volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)

    async def token(volunteer_id: str, path: str = FENGSHU, name: str = "志愿者") -> Metadata:
        account = account_of(volunteer_id, path)
        worker = as_worker if path == FENGSHU else bearer(issuer.issue("worker", role="community_worker", scope=path))
        try:
            await volunteers.CreateVolunteer(vpb.CreateVolunteerRequest(volunteer=vpb.Volunteer(
                community_path=path, volunteer_id=volunteer_id, display_name=name, account_id=account)),
                metadata=worker)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            await volunteers.BindVolunteerAccount(vpb.BindVolunteerAccountRequest(
                community_path=path, volunteer_id=volunteer_id, account_id=account), metadata=worker)
        return bearer(issuer.issue(account, role="volunteer", scope=path))

    return token


@pytest.fixture
def token_for(issuer: TestIssuer) -> Callable[..., Metadata]:
    def issue(role: str, scope: str = FENGSHU, subject: str = "someone",
              kind: PrincipalKind = PrincipalKind.PERSON) -> Metadata:
        return bearer(issuer.issue(subject, role=role, scope=scope, kind=kind))

    return issue


async def published(app: PointsApp, subject: str, payload: type[M]) -> list[M]:
    """The payloads of every event on `subject` in the service's stream, once the relay has sent
    all the service wrote (linli_runtime.testing.published)."""
    return await published_in_stream(app.db, app.bus.js, POINTS.name, subject, payload)


async def applied(db: Database, consumer: str, event_ids: list[str]) -> bool:
    """Whether `consumer` has applied (recorded in its inbox) every one of `event_ids`."""
    async with db.engine.connect() as conn:
        done = (await conn.execute(sa.select(sa.func.count()).select_from(INBOX).where(
            INBOX.c.consumer == consumer, INBOX.c.event_id.in_(event_ids)))).scalar_one()
    return int(done) == len(set(event_ids))


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)
        self.activities = activities_pb2_grpc.ActivityServiceStub(channel)
        self.pairings = pairings_pb2_grpc.PairingServiceStub(channel)
        self.awards = awards_pb2_grpc.AwardServiceStub(channel)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.adjustments = adjustments_pb2_grpc.AdjustmentServiceStub(channel)
        self.funding = funding_pb2_grpc.FundingServiceStub(channel)


@pytest.fixture
def stubs(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(channel)


def ts(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


async def expect_error(call: Any, code: grpc.StatusCode, reason: str = "", field: str = "") -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    got_reason, fields = error_info(caught.value)
    if reason:
        assert got_reason == reason
    if field:
        assert fields == [field]


@pytest.fixture
def notification_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """notification's own database, on the same engine as volunteer-points' (no service reads
    another's tables)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
        return
    pg: EmbeddedPostgres = request.getfixturevalue("embedded_postgres")
    name = f"n_{uuid.uuid4().hex[:12]}"
    yield pg.database_url(name)
    pg.drop_database(name)


@pytest.fixture
async def notification(notification_url: str, nats_server: NatsServer, clock: ManualClock,
                       app: PointsApp, issuer: TestIssuer) -> AsyncIterator[NotificationApp]:
    settings = NotificationSettings(port=0, database_url=notification_url, nats_url=nats_server.url,
                                    sweep_interval_seconds=0)
    service = issuer.trust(NotificationApp(settings, clock=clock, providers={"wechat": [], "sms": []}))
    service.on_start(seed)
    await service.start()
    await service.bus.wait_ready(15)
    yield service
    await service.stop(grace=1)
