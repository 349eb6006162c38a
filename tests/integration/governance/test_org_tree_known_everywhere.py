"""The org tree is known everywhere (issue 14 item 11): volunteer-points, partner-redemption and
notification refuse a community trust-governance has not announced, accept it once governance
has created it, follow its renames, and refuse new work while it is closed — each service
learning only from governance's events on a real NATS (no service reads another's database).

One story on SQLite (the upsert's two dialects are held in tests/integration/runtime/test_org_units.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from linli_governance.app import GovernanceApp
from linli_governance.app import create_app as create_governance
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings
from linli_points.app import PointsApp
from linli_points.app import create_app as create_points
from linli_points.settings import PointsSettings
from linli_redemption.app import RedemptionApp, RedemptionSettings
from linli_redemption.app import create_app as create_redemption

from linli.governance.v1 import org_pb2, org_pb2_grpc
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli.points.v1 import volunteers_pb2 as vpb
from linli.points.v1 import volunteers_pb2_grpc as vpb_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.org_units import KnownUnits
from linli_runtime.processes import NatsServer
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

STREET = "chengdu/jinjiang/chenglonglu"
NEWTOWN = f"{STREET}/xinhe"  # a community no demo data names
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Platform:
    governance: GovernanceApp
    points: PointsApp
    redemption: RedemptionApp
    notification: NotificationApp
    channels: dict[str, grpc.aio.Channel]
    issuer: TestIssuer

    def md(self, role: str, scope: str) -> Metadata:
        return (("authorization", f"Bearer {self.issuer.issue('someone', role=role, scope=scope)}"),)

    @property
    def knowers(self) -> dict[str, KnownUnits]:
        return {"volunteer-points": self.points.places, "partner-redemption": self.redemption.places,
                "notification": self.notification.places}


@pytest.fixture
async def platform(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[Platform]:
    clock = ManualClock()

    def common(name: str) -> dict[str, Any]:
        return dict(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db", nats_url=nats_server.url)

    apps: list[ServiceApp] = []
    governance = issuer.trust(create_governance(ServiceSettings(**common("governance")), clock))
    points = issuer.trust(create_points(PointsSettings(**common("points")), clock))
    notification = issuer.trust(NotificationApp(
        NotificationSettings(**common("notification"), sweep_interval_seconds=0),
        clock=clock, providers={"wechat": [], "sms": []}))
    for app in (governance, points, notification):
        await app.start()
        apps.append(app)
    redemption = issuer.trust(create_redemption(
        RedemptionSettings(**common("redemption"), terminal_secret_key="k" * 32), clock,
        points_addr=f"127.0.0.1:{points.port}"))
    await redemption.start()
    apps.append(redemption)
    channels = {app.name: grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") for app in apps}
    try:
        yield Platform(governance, points, redemption, notification, channels, issuer)
    finally:
        for channel in channels.values():
            await channel.close()
        for app in reversed(apps):
            await app.stop(grace=0.5)


async def refused(call: Any) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), error_info(caught.value)[0], caught.value.details() or ""


def new_work(p: Platform) -> dict[str, Any]:
    """One request per service that puts something new into NEWTOWN, as its street officer."""
    officer = p.md("street_officer", STREET)
    tag = uuid.uuid4().hex[:8]
    return {
        "volunteer-points": vpb_grpc.VolunteerServiceStub(p.channels["volunteer-points"]).CreateVolunteer(
            vpb.CreateVolunteerRequest(volunteer=vpb.Volunteer(community_path=NEWTOWN, volunteer_id=f"v-{tag}",
                                                               display_name="李明")), metadata=officer),
        "partner-redemption": admin_pb2_grpc.PartnerServiceStub(p.channels["partner-redemption"]).CreatePartner(
            admin_pb2.CreatePartnerRequest(partner_id=f"shop-{tag}", partner=rpb.Partner(
                community_path=NEWTOWN, kind=rpb.PARTNER_KIND_MERCHANT, display_name="新河便利店")), metadata=officer),
        "notification": npb_grpc.HelpRequestServiceStub(p.channels["notification"]).CreateHelpRequest(
            npb.CreateHelpRequestRequest(parent="communities/" + NEWTOWN.replace("/", "~"),
                                         help_request=npb.HelpRequest(reporter_role=npb.REPORTER_ROLE_WORKER,
                                                                      category="meal", description="独居老人需要送餐")),
            metadata=officer),
    }


async def create_unit(p: Platform, parent: str, slug: str, kind: int, name: str) -> None:
    org = org_pb2_grpc.OrgServiceStub(p.channels["trust-governance"])
    await org.CreateOrgUnit(org_pb2.CreateOrgUnitRequest(parent_path=parent, slug=slug, kind=kind,
                                                         display_name=name), metadata=p.md("platform_admin", ""))


async def all_know(p: Platform, path: str, **expected: Any) -> bool:
    for places in p.knowers.values():
        row = await places.get(path)
        if row is None or any(getattr(row, key) != value for key, value in expected.items()):
            return False
    return True


async def test_an_unknown_community_is_refused_until_governance_creates_it_and_its_changes_follow(
        platform: Platform) -> None:
    p = platform
    for service, call in new_work(p).items():
        code, reason, details = await refused(call)
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "ORG_UNIT_UNKNOWN"), service
        assert NEWTOWN in details and "trust-governance" in details, details

    for parent, slug, kind, name in [("", "chengdu", 1, "成都市"), ("chengdu", "jinjiang", 2, "锦江区"),
                                     ("chengdu/jinjiang", "chenglonglu", 3, "成龙路街道"),
                                     (STREET, "xinhe", 4, "新河社区")]:
        await create_unit(p, parent, slug, kind, name)
    await wait_until(lambda: all_know(p, NEWTOWN, name="新河社区", revision=1),
                     what="every service to learn the new community from governance's event")
    for call in new_work(p).values():
        await call  # accepted everywhere

    org = org_pb2_grpc.OrgServiceStub(p.channels["trust-governance"])
    admin = p.md("platform_admin", "")
    await org.UpdateOrgUnit(org_pb2.UpdateOrgUnitRequest(
        org_unit=org_pb2.OrgUnit(path=NEWTOWN, display_name="新河社区（更名）"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"])), metadata=admin)
    await wait_until(lambda: all_know(p, NEWTOWN, name="新河社区（更名）", revision=2, closed=False),
                     what="the rename to reach every service")

    # Closing the street closes what lies below it: new work there is refused, with the reason.
    await org.CloseOrgUnit(org_pb2.CloseOrgUnitRequest(path=STREET, reason="街道合并 streets merged"),
                           metadata=admin)
    await wait_until(lambda: all_know(p, STREET, closed=True, revision=2), what="the close to reach every service")
    for service, call in new_work(p).items():
        code, reason, details = await refused(call)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ORG_UNIT_CLOSED"), service
        assert STREET in details
    await org.ReopenOrgUnit(org_pb2.ReopenOrgUnitRequest(path=STREET, reason="撤销合并"), metadata=admin)
    await wait_until(lambda: all_know(p, STREET, closed=False, revision=3), what="the reopening to reach every service")
    for call in new_work(p).values():
        await call
