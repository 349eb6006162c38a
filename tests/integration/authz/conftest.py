"""One platform for the whole authorisation table (`test_every_rpc.py`), started once per
module: every gRPC service of the registry as a real server on loopback — identity,
volunteer-points, trust-governance, partner-redemption, notification — with real NATS, SQLite
files and the demo data, all trusting one test issuer (the identity service's own token code,
`linli_identity.testing`). The servers run in an event loop of their own on a background
thread; the table calls them with plain synchronous gRPC channels, so hundreds of rows share
them and take seconds.

The people the table calls as exist at the identity service too, holding their grants there
(identity decides by the grants it stores, the other services by the token's), so a token's
subject and grants say the same thing to every service.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from linli_governance.app import GovernanceApp
from linli_governance.settings import GovernanceSettings
from linli_identity.accounts import PERSON
from linli_identity.app import IdentityApp
from linli_identity.app import create_app as create_identity
from linli_identity.settings import IdentitySettings
from linli_identity.sms import DevFileSmsSender
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings
from linli_points.app import PointsApp
from linli_points.settings import PointsSettings
from linli_redemption.app import RedemptionApp, RedemptionSettings

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.demo import demo_account_id
from linli_runtime.processes import NatsServer
from linli_runtime.registry import installed_services
from linli_runtime.server import ServiceApp

T = TypeVar("T")

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
DEMO_MERCHANT = "jinchengyijing-health"  # a merchant of Fengshu in the demo data
# The identity service's demo person holding community_worker at Fengshu (linli_identity.demo).
FENGSHU_WORKER = demo_account_id("+8613800000003")


@dataclass
class Platform:
    issuer: TestIssuer
    addresses: dict[str, str]  # service name → host:port
    identity: IdentityApp
    loop: asyncio.AbstractEventLoop
    terminal_authorization: str = ""
    _people: dict[tuple[str, str], str] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run `work` on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.insecure_channel(self.addresses[service])
        return self._channels[service]

    def served(self, service: str) -> list[str]:
        """The full names of the gRPC services `service`'s server says it serves (reflection)."""
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel(service))
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                            timeout=10)
        return sorted(s.name for reply in replies for s in reply.list_services_response.service)

    def person(self, role: str, scope: str) -> str:
        """The account of a person holding `role` at `scope`, made at the identity service once."""
        key = (role, scope)
        if key not in self._people:
            account_id = demo_account_id(f"authz:{role}@{scope}")
            self.run(self._make_person(account_id, role, scope))
            self._people[key] = account_id
        return self._people[key]

    async def _make_person(self, account_id: str, role: str, scope: str) -> None:
        async with self.identity.db.transaction() as session:
            await self.identity.accounts.create(session, display_name=f"{role}@{scope or '/'}", phone=None,
                                                kind=PERSON, created_by="test", reason="authz table",
                                                account_id=account_id)
            await self.identity.grants.record(session, account_id=account_id, role=Role(role), scope=scope,
                                              by="test", reason="authz table")

    def token(self, role: str, scope: str) -> str:
        """A good access token of that person (one grant: `role` at `scope`)."""
        key = (role, scope)
        if key not in self._tokens:
            self._tokens[key] = self.issuer.issue(self.person(role, scope), role=role, scope=scope)
        return self._tokens[key]


def _settings(tmp: Path, name: str, nats: NatsServer) -> dict[str, Any]:
    return {"port": 0, "database_url": f"sqlite+aiosqlite:///{tmp / (name + '.db')}", "nats_url": nats.url,
            "demo_data": True, "log_json": False, "metrics_port": 0}


async def _start(issuer: TestIssuer, tmp: Path, nats: NatsServer) -> tuple[dict[str, ServiceApp], IdentityApp]:
    apps: dict[str, ServiceApp] = {}
    # The identity service's admin API checks the test issuer's tokens too: same `iss`, its keys.
    identity_settings = IdentitySettings(**_settings(tmp, "identity", nats), http_port=0, issuer_url=issuer.url,
                                         sms_dev_dir=str(tmp / "sms"), client_secrets_dir=str(tmp / "clients"),
                                         portal_redirect_uris="http://127.0.0.1:9/auth/callback",
                                         key_refresh_seconds=3600)
    identity = issuer.trust(create_identity(identity_settings, sms=DevFileSmsSender(identity_settings.sms_dir()),
                                            services=["volunteer-points"]))
    apps["identity"] = identity
    apps["volunteer-points"] = issuer.trust(PointsApp(PointsSettings(**_settings(tmp, "points", nats))))
    apps["trust-governance"] = issuer.trust(GovernanceApp(GovernanceSettings(
        **_settings(tmp, "governance", nats), voucher_dir=str(tmp / "vouchers"))))
    apps["notification"] = issuer.trust(NotificationApp(NotificationSettings(
        **_settings(tmp, "notification", nats), sweep_interval_seconds=3600), providers={"wechat": [], "sms": []}))
    for name in ("identity", "volunteer-points", "trust-governance", "notification"):
        await apps[name].start()
    apps["partner-redemption"] = issuer.trust(RedemptionApp(RedemptionSettings(
        **_settings(tmp, "redemption", nats), terminal_secret_key="authz-table-terminal-secret-key-0123456789"),
        None, f"127.0.0.1:{apps['volunteer-points'].port}"))
    await apps["partner-redemption"].start()
    return apps, identity


# One platform for the package's two modules (test_every_rpc, test_request_ids: both in the
# "authz-table" xdist group, so on one worker): each sends requests that are refused or touch
# nothing the other reads.
@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("authz-platform")
    nats = NatsServer(tmp / "nats").start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="authz-platform", daemon=True)
    thread.start()
    issuer = TestIssuer()
    apps: dict[str, ServiceApp] = {}
    platform: Platform | None = None
    try:
        apps, identity = asyncio.run_coroutine_threadsafe(_start(issuer, tmp, nats), loop).result(180)
        platform = Platform(issuer, {name: f"127.0.0.1:{app.port}" for name, app in apps.items()}, identity, loop)
        # A POS terminal of a Fengshu merchant, with its own credential.
        admin = (("authorization", f"Bearer {issuer.issue('authz-admin', role=Role.PLATFORM_ADMIN)}"),)
        made = admin_pb2_grpc.PartnerServiceStub(platform.channel("partner-redemption")).CreateTerminal(
            admin_pb2.CreateTerminalRequest(parent=f"merchants/{DEMO_MERCHANT}", terminal_id="authz-till",
                                            display_name="till"), metadata=admin, timeout=15)
        platform.terminal_authorization = made.authorization
        yield platform
    finally:
        if platform is not None:
            for channel in platform._channels.values():
                channel.close()

        async def stop_all() -> None:
            for app in reversed(list(apps.values())):
                await app.stop(grace=0.5)

        asyncio.run_coroutine_threadsafe(stop_all(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        nats.stop()


def grpc_services() -> list[str]:
    """Every gRPC service of the registry (the web portal is an HTTP gateway: not here)."""
    return [d.name for d in installed_services() if d.protocol == "grpc"]
