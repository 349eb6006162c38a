"""The platform's machine clients at the issuer: one client per service (its token carries
`service`), the web portal's own client whose token carries only the read-only `portal` role,
provisioning that takes each client's secret from its file (a deployment's Secret) or writes a
new one (`make run`), revocation for the CLI's logout and the portal's sign-out, and the demo
people `make run` seeds."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest
from linli_identity.app import IdentityApp, create_app
from linli_identity.demo import PEOPLE, _place
from linli_identity.oauth.clients import CLI
from linli_identity.sms import DevFileSmsSender

from linli.identity.v1 import identity_pb2 as pb
from linli_runtime.auth import Grant, Role
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.oidc import RemoteJwks, TokenVerifier
from linli_runtime.processes import NatsServer

from .browser import Browser
from .conftest import Caller, Identity, grant_msg, rid, settings_for
from .test_oauth_flows import portal_sign_in

SERVICES = {"volunteer-points": "service", "portal": "portal"}


async def started(database_url: str, nats_url: str, tmp_path: Path, **over: object) -> IdentityApp:
    settings = settings_for(database_url, nats_url, tmp_path, **over)
    app = create_app(settings, clock=ManualClock(datetime.now(UTC).replace(microsecond=0)),
                     sms=DevFileSmsSender(settings.sms_dir()), services=SERVICES)
    await app.start()
    return app


@pytest.fixture
async def platform(database_url: str, nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Identity]:
    app = await started(database_url, nats_server.url, tmp_path)
    try:
        async with make_channel(f"127.0.0.1:{app.port}") as channel:
            yield Identity(app, app.clock, app.sms.sender, channel, app.identity_settings)  # type: ignore[arg-type]
    finally:
        await app.stop(grace=1)


async def client_token(identity: Identity, client_id: str, secret: str | None = None) -> httpx.Response:
    async with identity.http() as http:
        return await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret if secret is not None else identity.secret(client_id)))


def verifier(identity: Identity) -> TokenVerifier:
    return TokenVerifier(issuer=identity.issuer, keys=RemoteJwks.from_issuer(identity.issuer, clock=identity.clock),
                         clock=identity.clock)


async def test_the_portals_client_gets_a_token_with_only_the_portal_role(platform: Identity) -> None:
    reply = await client_token(platform, "svc-portal")
    assert reply.status_code == 200, reply.text
    portal = await verifier(platform).verify(reply.json()["access_token"])
    assert portal.grants == (Grant("portal", ""),) and portal.claims["kind"] == "service"
    other = await client_token(platform, "svc-volunteer-points")
    service = await verifier(platform).verify(other.json()["access_token"])
    assert service.grants == (Grant("service", ""),)
    # The portal's account has no power in the admin API: it is neither a service nor an admin.
    caller = Caller(reply.json()["access_token"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await caller(platform.accounts.ListAccounts, pb.ListAccountsRequest(page_size=10))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_machine_roles_are_never_granted_and_service_accounts_get_no_grants(platform: Identity) -> None:
    admin = await platform.caller(await platform.admin())
    person = await platform.person("某人", "+8613811118888")
    for role in (Role.PORTAL, Role.SERVICE):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin(platform.grants.CreateGrant, pb.CreateGrantRequest(
                parent=f"accounts/{person}", grant=grant_msg(role.value, ""), request_id=rid()))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "never granted" in (refused.value.details() or "")
    async with platform.app.db.session() as session:
        client = await platform.app.clients.get(session, "svc-volunteer-points")
    assert client is not None and client.account_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin(platform.grants.CreateGrant, pb.CreateGrantRequest(
            parent=f"accounts/{client.account_id}", grant=grant_msg("city_operator", "chengdu"), request_id=rid()))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_provisioning_takes_a_deployments_secret_file_and_writes_a_missing_one(
        database_url: str, nats_server: NatsServer, tmp_path: Path) -> None:
    secrets = tmp_path / "clients"
    secrets.mkdir()
    (secrets / "svc-portal.secret").write_text("given-by-the-deployment\n")
    app = await started(database_url, nats_server.url, tmp_path)
    try:
        identity = Identity(app, app.clock, app.sms.sender, None, app.identity_settings)  # type: ignore[arg-type]
        assert (await client_token(identity, "svc-portal", "given-by-the-deployment")).status_code == 200
        written = secrets / "svc-volunteer-points.secret"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        first = written.read_text().strip()
        assert (await client_token(identity, "svc-volunteer-points", first)).status_code == 200
    finally:
        await app.stop(grace=1)
    # A restart with the Secret rotated (and the same files otherwise): the new secret counts, the
    # old one no longer; the written one is kept as it was.
    (secrets / "svc-portal.secret").write_text("rotated\n")
    app = await started(database_url, nats_server.url, tmp_path)
    try:
        identity = Identity(app, app.clock, app.sms.sender, None, app.identity_settings)  # type: ignore[arg-type]
        assert (await client_token(identity, "svc-portal", "rotated")).status_code == 200
        assert (await client_token(identity, "svc-portal", "given-by-the-deployment")).status_code == 401
        assert written.read_text().strip() == first
        assert (await client_token(identity, "svc-volunteer-points", first)).status_code == 200
        async with app.db.session() as session:
            held = await app.grants.active_for(session, (await app.clients.get(session, "svc-portal")).account_id)  # type: ignore[union-attr,arg-type]
        assert held == (Grant("portal", ""),)  # recorded once, not again on restart
    finally:
        await app.stop(grace=1)


async def test_a_revoked_refresh_token_ends_the_sign_in(platform: Identity) -> None:
    fengshu = "chengdu/jinjiang/chenglonglu/fengshu"
    await platform.with_grant("李社工", "community_worker", fengshu, phone="+8613811119999")
    browser = Browser(platform)
    try:
        tokens = await portal_sign_in(platform, browser, "+8613811119999")
    finally:
        await browser.close()
    async with platform.http() as http:
        revoked = await http.post("/oauth/revoke", data={"token": tokens["refresh_token"],
                                                         "token_type_hint": "refresh_token"},
                                  auth=("linli-portal", platform.secret("linli-portal")))
        assert revoked.status_code == 200
        # Unknown tokens and access tokens answer 200 too (RFC 7009); a public client sends its id only.
        assert (await http.post("/oauth/revoke", data={"token": "nonsense", "client_id": CLI})).status_code == 200
        assert (await http.post("/oauth/revoke", data={"token": "x", "client_id": "nobody"})).status_code == 401
        discovery = (await http.get("/.well-known/openid-configuration")).json()
        assert discovery["revocation_endpoint"] == f"{platform.issuer}/oauth/revoke"
        reply = await http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                       "refresh_token": tokens["refresh_token"]},
                                auth=("linli-portal", platform.secret("linli-portal")))
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


async def test_the_demo_people_exist_with_their_documented_grants(database_url: str, nats_server: NatsServer,
                                                                 tmp_path: Path) -> None:
    app = await started(database_url, nats_server.url, tmp_path, demo_data=True)
    try:
        async with app.db.session() as session:
            for phone, name, role, scope in PEOPLE:
                account = await app.accounts.by_phone(session, phone)
                assert account is not None and account.display_name == name, phone
                assert await app.grants.active_for(session, account.id) == (Grant(role.value, _place(scope)),), phone
        roles = {role for _, _, role, _ in PEOPLE}
        assert {Role.CITY_OPERATOR, Role.COMMUNITY_WORKER, Role.TRUSTEE, Role.OWNERS_COMMITTEE,
                Role.TRUST_SUPERVISOR, Role.VOLUNTEER, Role.MERCHANT} <= roles
    finally:
        await app.stop(grace=1)
