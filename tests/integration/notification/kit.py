"""Shared pieces of the notification service's integration tests: the app on a free port with
a ManualClock (Saturday 7 November 2026, Ms Wan's day), real NATS and a real database,
recording providers standing in for SMS / WeChat gateways, and gRPC stubs with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from linli_identity.testing import TestIssuer
from linli_notification import volunteer_accounts, workers
from linli_notification.app import NotificationApp
from linli_notification.demo import WORKER_CHEN, WORKER_HE, WORKER_LI, WORKER_SUN, WORKER_ZHAO, WORKERS, seed
from linli_notification.providers import OutboundMessage, ProviderError, RecipientRejected, Throttled
from linli_notification.settings import NotificationSettings
from linli_notification.tables import Notice, known_org_unit, notice

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_runtime import org_units
from linli_runtime.clock import ManualClock
from linli_runtime.models import typed_all
from linli_runtime.processes import NatsServer

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
FENGSHU_NAME = "communities/chengdu~jinjiang~chenglonglu~fengshu"
JINSHANG = f"{FENGSHU}/jinshang-chuntian"
# The demo roster's Fengshu workers (their demo accounts): Zhao on Saturdays with Sun as backup,
# Li on weekdays with Chen, He the community head.
ZHAO, SUN, LI, CHEN, HE = WORKER_ZHAO, WORKER_SUN, WORKER_LI, WORKER_CHEN, WORKER_HE
# Saturday 7 November 2026, 11:00 in Chengdu (UTC+8).
SATURDAY_11AM = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)


@dataclass
class RecordingProvider:
    """A stand-in for an SMS / WeChat gateway: fails its first `fail_times` sends (or every send
    when `down`; throttling, asking for `throttle_seconds`, when that is set; refusing the
    recipient when `reject`), then records what it sent."""

    name: str
    fail_times: int = 0
    down: bool = False
    throttle_seconds: int = 0
    reject: bool = False
    calls: int = 0
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> None:
        self.calls += 1
        if self.reject:
            raise RecipientRejected(f"{self.name}: 43101 the recipient did not subscribe")
        if self.down or self.calls <= self.fail_times:
            if self.throttle_seconds:
                raise Throttled(f"{self.name} throttled", timedelta(seconds=self.throttle_seconds))
            raise ProviderError(f"{self.name} unavailable")
        self.sent.append(message)


@dataclass
class Harness:
    app: NotificationApp
    clock: ManualClock
    channel: grpc.aio.Channel
    issuer: TestIssuer
    wechat: list[RecordingProvider]

    def token(self, subject: str = ZHAO, role: str = "community_worker", scope: str = FENGSHU) -> str:
        return self.issuer.issue(subject, role=role, scope=scope)

    def md(self, subject: str = ZHAO, role: str = "community_worker",
           scope: str = FENGSHU) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(subject, role, scope)}"),)

    @property
    def help(self) -> pb_grpc.HelpRequestServiceStub:
        return pb_grpc.HelpRequestServiceStub(self.channel)

    @property
    def roster(self) -> pb_grpc.DutyRosterServiceStub:
        return pb_grpc.DutyRosterServiceStub(self.channel)

    @property
    def inbox(self) -> pb_grpc.InboxServiceStub:
        return pb_grpc.InboxServiceStub(self.channel)

    async def bind(self, *volunteers: str, path: str = FENGSHU, account: str = "") -> None:
        """Bind volunteers of `path` to accounts (each to `account`, else to an account named as
        the volunteer is), as the consumer of volunteer-points' `points.volunteer.account_bound`
        records it: notices about a volunteer go to that account's inbox."""
        async with self.app.db.transaction() as session:
            conn = await session.connection()
            for volunteer in volunteers:
                await volunteer_accounts.bind(conn, path, volunteer, account or volunteer)

    async def grant_worker(self, *accounts: str, path: str = FENGSHU, revoke: bool = False) -> None:
        """Teach the service that `accounts` are community workers at `path` (or no longer are),
        as its consumer of identity's `identity.grant.granted|revoked` records it."""
        async with self.app.db.transaction() as session:
            conn = await session.connection()
            for account in accounts:
                await workers.learn(conn, grant=f"accounts/{account}/grants/grt-{path.rsplit('/', 1)[-1]}",
                                    account=account, role="community_worker", scope=path, granted=not revoke)

    async def learn_place(self, path: str, kind: int = 4, name: str = "新社区") -> None:
        """Teach the service a place as governance's OrgUnitCreated would (communities by default)."""
        parent = path.rsplit("/", 1)[0]
        await org_units.learn_all(self.app.db, known_org_unit, [org_units.UnitState(
            path, parent, kind, name, "", closed=False, revision=1)], self.clock.now())

    async def notices_of(self, recipient: str) -> list[Notice]:
        async with self.app.db.transaction() as session:
            conn = await session.connection()
            return typed_all(Notice, await conn.execute(sa.select(notice).where(
                notice.c.recipient_id == recipient).order_by(notice.c.seq)))


def ms_wan_request(**overrides: object) -> pb.HelpRequest:
    fields: dict[str, object] = dict(
        reporter_id="canteen-staff-liu", reporter_role=pb.REPORTER_ROLE_CANTEEN_STAFF, on_behalf_of="万阿姨",
        contact="138-0000-0000", category="meal", urgency=pb.URGENCY_HIGH, compound_path=JINSHANG,
        description="万阿姨生病卧床，无法出门买饭")
    fields.update(overrides)
    return pb.HelpRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def wechat_providers(request: pytest.FixtureRequest) -> list[RecordingProvider]:
    """Fresh providers per test; parametrize indirectly with a list of RecordingProvider
    keyword sets to change them."""
    specs = getattr(request, "param", [{"name": "wechat-primary"}])
    return [RecordingProvider(**spec) for spec in specs]


@pytest.fixture
async def h(database_url: str, nats_server: NatsServer, issuer: TestIssuer,
                  wechat_providers: list[RecordingProvider]) -> AsyncIterator[Harness]:
    clock = ManualClock(SATURDAY_11AM)
    settings = NotificationSettings(port=0, database_url=database_url, nats_url=nats_server.url,
                                    sweep_interval_seconds=0)
    app = issuer.trust(NotificationApp(settings, clock=clock, providers={"wechat": wechat_providers, "sms": []}))
    app.on_start(seed)
    await app.start()
    await app.bus.wait_ready(15)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        harness = Harness(app, clock, channel, issuer, wechat_providers)
        # The demo roster's workers hold their grants, as identity's demo gives them.
        await harness.grant_worker(*WORKERS)
        yield harness
    await app.stop(grace=1)
