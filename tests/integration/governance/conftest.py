"""An in-process trust-governance on a free loopback port, with a ManualClock, real NATS and
the test's database (SQLite and PostgreSQL), plus helpers to call it as different people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from linli_governance.app import GovernanceApp, create_app
from linli_governance.settings import GovernanceSettings
from linli_identity.testing import TestIssuer

from linli.governance.v1 import (
    account_pb2_grpc,
    bodies_pb2_grpc,
    disclosure_pb2_grpc,
    org_pb2_grpc,
    project_pb2_grpc,
    rollout_pb2_grpc,
    vote_pb2_grpc,
)
from linli_runtime.auth import PrincipalKind
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer

from .helpers import Caller


@dataclass
class Governance:
    app: GovernanceApp
    clock: ManualClock
    issuer: TestIssuer
    channel: grpc.aio.Channel

    @property
    def org(self) -> Any:
        return org_pb2_grpc.OrgServiceStub(self.channel)

    @property
    def rollout(self) -> Any:
        return rollout_pb2_grpc.RolloutServiceStub(self.channel)

    @property
    def account(self) -> Any:
        return account_pb2_grpc.TrustAccountServiceStub(self.channel)

    @property
    def votes(self) -> Any:
        return vote_pb2_grpc.VoteServiceStub(self.channel)

    @property
    def bodies(self) -> Any:
        return bodies_pb2_grpc.GovernanceBodyServiceStub(self.channel)

    @property
    def projects(self) -> Any:
        return project_pb2_grpc.ProjectServiceStub(self.channel)

    @property
    def disclosures(self) -> Any:
        return disclosure_pb2_grpc.DisclosureServiceStub(self.channel)

    def caller(
        self, role: str, scope: str = "", subject: str = "tester", kind: PrincipalKind = PrincipalKind.PERSON
    ) -> Caller:
        return Caller(self.issuer.issue(subject, role=role, scope=scope, kind=kind, ttl_seconds=3600))

    @property
    def admin(self) -> Caller:
        return self.caller("platform_admin", subject="admin")


@pytest.fixture
async def gov(
    database_url: str, nats_server: NatsServer, issuer: TestIssuer, tmp_path: Path
) -> AsyncIterator[Governance]:
    clock = ManualClock()
    settings = GovernanceSettings(
        port=0,
        database_url=database_url,
        nats_url=nats_server.url,
        voucher_dir=str(tmp_path / "vouchers"),
        vote_schedule_interval=0,  # the tests run the schedule's passes themselves
    )
    app = issuer.trust(create_app(settings, clock))
    await app.start()
    try:
        async with make_channel(f"127.0.0.1:{app.port}") as channel:
            yield Governance(app, clock, issuer, channel)
    finally:
        await app.stop(grace=1)
