"""An in-process identity service — gRPC admin API and the issuer's HTTP server on free
loopback ports — on the test's database (SQLite and PostgreSQL), real NATS, a ManualClock
started at the real time (so HTTP clients that look at expiry agree with the issuer), and the
development SMS sender writing to the test's folder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from linli_identity.accounts import PERSON
from linli_identity.app import IdentityApp, create_app
from linli_identity.bootstrap import create_first_admin
from linli_identity.settings import IdentitySettings
from linli_identity.sms import DevFileSmsSender
from linli_identity.tokens import Subject
from nats.js.errors import NotFoundError

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.identity.v1 import identity_pb2 as pb
from linli.identity.v1 import identity_pb2_grpc
from linli_runtime.auth import Grant
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer

SERVICES = ["volunteer-points"]


@dataclass(frozen=True)
class Caller:
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    async def __call__(self, method: Any, request: Any) -> Any:
        return await method(request, metadata=self.metadata)


@dataclass
class Identity:
    app: IdentityApp
    clock: ManualClock
    sms: DevFileSmsSender
    channel: grpc.aio.Channel
    settings: IdentitySettings

    @property
    def issuer(self) -> str:
        return self.app.issuer_url

    @property
    def accounts(self) -> Any:
        return identity_pb2_grpc.AccountServiceStub(self.channel)

    @property
    def grants(self) -> Any:
        return identity_pb2_grpc.GrantServiceStub(self.channel)

    @property
    def household_claims(self) -> Any:
        return identity_pb2_grpc.HouseholdClaimServiceStub(self.channel)

    @property
    def keys(self) -> Any:
        return identity_pb2_grpc.SigningKeyServiceStub(self.channel)

    def secret(self, client_id: str) -> str:
        return (self.settings.secrets_dir() / f"{client_id}.secret").read_text().strip()

    async def token(self, account_id: str) -> str:
        """An access token for `account_id` as the issuer would give it now (its grants now)."""
        async with self.app.db.session() as session:
            subject: Subject = await self.app.oauth.subject(session, account_id)
        return self.app.tokens.access_token(subject, client_id="test", scope="openid").token

    async def caller(self, account_id: str) -> Caller:
        return Caller(await self.token(account_id))

    async def person(self, name: str, phone: str | None = None) -> str:
        async with self.app.db.transaction() as session:
            account = await self.app.accounts.create(session, display_name=name, phone=phone, kind=PERSON,
                                                     created_by="test")
        return account.id

    async def with_grant(self, name: str, role: str, scope: str, phone: str | None = None) -> str:
        """A person holding `role` at `scope` (recorded without an authority check: a fixture)."""
        account_id = await self.person(name, phone)
        async with self.app.db.transaction() as session:
            from linli_runtime.auth import Role

            await self.app.grants.record(session, account_id=account_id, role=Role(role), scope=scope, by="test",
                                         reason="fixture")
        return account_id

    async def published(self) -> list[EventEnvelope]:
        """Every event on the IDENTITY stream so far, in order (none before the stream exists)."""
        js = self.app.bus.js
        try:
            info = await js.stream_info("IDENTITY")
        except NotFoundError:
            return []
        return [EventEnvelope.FromString((await js.get_msg("IDENTITY", seq)).data or b"")
                for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1)]

    async def admin(self) -> str:
        return await create_first_admin(self.app.db, "+8613900000000", "管理员", self.clock)

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.issuer, timeout=10, **kwargs)


def rid() -> str:
    return uuid.uuid4().hex


def grant_msg(role: str, scope: str, reason: str = "test") -> pb.Grant:
    return pb.Grant(role=role, scope=scope, reason=reason)


def settings_for(database_url: str, nats_url: str, tmp_path: Path, **over: Any) -> IdentitySettings:
    values: dict[str, Any] = {"port": 0, "http_port": 0, "database_url": database_url, "nats_url": nats_url,
                              "sms_dev_dir": str(tmp_path / "sms"), "client_secrets_dir": str(tmp_path / "clients"),
                              "portal_redirect_uris": "http://127.0.0.1:9/auth/callback", "log_json": False,
                              "key_refresh_seconds": 3600}
    values.update(over)
    return IdentitySettings(**values)


@pytest.fixture
async def identity(database_url: str, nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Identity]:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = settings_for(database_url, nats_server.url, tmp_path)
    sms = DevFileSmsSender(settings.sms_dir())
    app = create_app(settings, clock=clock, sms=sms, services=SERVICES)
    await app.start()
    try:
        async with make_channel(f"127.0.0.1:{app.port}") as channel:
            yield Identity(app, clock, sms, channel, settings)
    finally:
        await app.stop(grace=1)


__all__ = ["Caller", "Grant", "Identity", "grant_msg", "rid"]
