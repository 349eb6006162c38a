"""The issuer over real HTTP, driven by Authlib's own OAuth 2 client (httpx integration): the
portal's authorization code + PKCE, refresh-token rotation and reuse detection, services' client
credentials, the CLI's device flow — and the tokens each gives verified as a service would,
against the JWKS fetched over HTTP."""

from __future__ import annotations

import secrets

import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError
from linli_identity.oauth.clients import CLI, DEVICE_CODE, PORTAL

from linli.identity.v1 import identity_pb2 as pb
from linli_runtime.auth import Grant
from linli_runtime.oidc import RemoteJwks, TokenVerifier

from .browser import Browser, query
from .conftest import Identity, rid

REDIRECT = "http://127.0.0.1:9/auth/callback"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def verifier_for(identity: Identity) -> TokenVerifier:
    return TokenVerifier(issuer=identity.issuer, keys=RemoteJwks.from_issuer(identity.issuer, clock=identity.clock),
                         clock=identity.clock)


def portal_client(identity: Identity) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=PORTAL, client_secret=identity.secret(PORTAL), redirect_uri=REDIRECT,
                             scope="openid", code_challenge_method="S256",
                             token_endpoint=f"{identity.issuer}/oauth/token")


async def portal_sign_in(identity: Identity, browser: Browser, phone: str) -> dict[str, object]:
    verifier = secrets.token_urlsafe(48)
    async with portal_client(identity) as client:
        url, state = client.create_authorization_url(f"{identity.issuer}/oauth/authorize", code_verifier=verifier,
                                                     nonce="n-0S6_WzA2Mj")
        callback = await browser.authorize(url, phone)
        assert callback.startswith(REDIRECT) and query(callback)["state"] == state
        assert query(callback)["iss"] == identity.issuer
        token = await client.fetch_token(authorization_response=callback, code_verifier=verifier)
        return dict(token)


async def test_the_portal_signs_a_person_in_with_code_and_pkce(identity: Identity) -> None:
    worker = await identity.with_grant("王工", "community_worker", FENGSHU, phone="+8613811112222")
    browser = Browser(identity)
    try:
        token = await portal_sign_in(identity, browser, "138 1111 2222")
    finally:
        await browser.close()
    principal = await verifier_for(identity).verify(str(token["access_token"]))
    assert principal.subject == worker
    assert principal.grants == (Grant("community_worker", FENGSHU),)
    assert principal.claims["client_id"] == PORTAL and principal.claims["name"] == "王工"
    assert int(token["expires_in"]) <= 15 * 60  # type: ignore[call-overload]
    assert token["refresh_token"] and token["id_token"]


async def test_a_code_is_good_once_and_only_with_its_verifier(identity: Identity) -> None:
    await identity.person("李四", "+8613811113333")
    browser = Browser(identity)
    verifier = secrets.token_urlsafe(48)
    try:
        async with portal_client(identity) as client:
            url, _ = client.create_authorization_url(f"{identity.issuer}/oauth/authorize", code_verifier=verifier)
            callback = await browser.authorize(url, "+8613811113333")
            with pytest.raises(AuthlibOAuthError) as wrong:
                await client.fetch_token(authorization_response=callback, code_verifier=secrets.token_urlsafe(48))
            assert wrong.value.error == "invalid_grant"
            url, _ = client.create_authorization_url(f"{identity.issuer}/oauth/authorize", code_verifier=verifier)
            callback = await browser.authorize(url, "+8613811113333")  # signed in already: straight to continue
            await client.fetch_token(authorization_response=callback, code_verifier=verifier)
            with pytest.raises(AuthlibOAuthError) as again:
                await client.fetch_token(authorization_response=callback, code_verifier=verifier)
            assert again.value.error == "invalid_grant"
    finally:
        await browser.close()


async def test_authorization_requests_that_fail(identity: Identity) -> None:
    async with identity.http() as http:
        unknown = await http.get("/oauth/authorize", params={"client_id": "nobody", "response_type": "code"})
        assert unknown.status_code == 400  # shown, never redirected to an unchecked address
        elsewhere = await http.get("/oauth/authorize", params={
            "client_id": PORTAL, "response_type": "code", "redirect_uri": "https://evil.example/cb"})
        assert elsewhere.status_code == 400
        no_pkce = await http.get("/oauth/authorize", params={
            "client_id": PORTAL, "response_type": "code", "redirect_uri": REDIRECT, "state": "s1"})
        assert no_pkce.status_code == 303
        assert query(no_pkce.headers["location"]) | {} == {
            "error": "invalid_request", "error_description": "code_challenge is required (PKCE with S256)",
            "iss": identity.issuer, "state": "s1"}


async def test_cancel_sends_access_denied_back(identity: Identity) -> None:
    await identity.person("赵五", "+8613811114444")
    browser = Browser(identity)
    try:
        async with portal_client(identity) as client:
            url, _ = client.create_authorization_url(f"{identity.issuer}/oauth/authorize",
                                                     code_verifier=secrets.token_urlsafe(48))
            callback = await browser.authorize(url, "+8613811114444", decision="deny")
        assert query(callback)["error"] == "access_denied"
    finally:
        await browser.close()


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_whole_sign_in(identity: Identity) -> None:
    await identity.person("钱六", "+8613811115555")
    browser = Browser(identity)
    try:
        first = await portal_sign_in(identity, browser, "+8613811115555")
    finally:
        await browser.close()
    async with portal_client(identity) as client:
        second = await client.refresh_token(refresh_token=str(first["refresh_token"]))
        assert second["refresh_token"] != first["refresh_token"]
        # The first token again: someone else holds a copy. Everything from this sign-in dies.
        with pytest.raises(AuthlibOAuthError) as reused:
            await client.refresh_token(refresh_token=str(first["refresh_token"]))
        assert reused.value.error == "invalid_grant"
        with pytest.raises(AuthlibOAuthError):
            await client.refresh_token(refresh_token=str(second["refresh_token"]))


async def test_services_sign_in_with_client_credentials(identity: Identity) -> None:
    service = "svc-volunteer-points"
    async with AsyncOAuth2Client(client_id=service, client_secret=identity.secret(service),
                                 token_endpoint_auth_method="client_secret_basic") as client:
        token = await client.fetch_token(f"{identity.issuer}/oauth/token", grant_type="client_credentials")
    principal = await verifier_for(identity).verify(token["access_token"])
    assert principal.grants == (Grant("service", ""),) and principal.claims["kind"] == "service"
    assert "refresh_token" not in token
    async with AsyncOAuth2Client(client_id="svc-volunteer-points", client_secret="wrong") as client:
        with pytest.raises(AuthlibOAuthError) as refused:
            await client.fetch_token(f"{identity.issuer}/oauth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    # The CLI is a public client: it may not use client credentials at all.
    async with identity.http() as http:
        cli = await http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": CLI})
    assert cli.status_code == 400 and cli.json()["error"] == "unauthorized_client"


async def device_start(identity: Identity) -> dict[str, object]:
    async with identity.http() as http:
        reply = await http.post("/oauth/device_authorization", data={"client_id": CLI, "scope": "openid"})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def test_the_cli_signs_in_with_the_device_flow(identity: Identity) -> None:
    officer = await identity.with_grant("街道干部", "street_officer", "chengdu/jinjiang/chenglonglu",
                                        phone="+8613811116666")
    started = await device_start(identity)
    assert started["verification_uri"] == f"{identity.issuer}/device"
    async with AsyncOAuth2Client(client_id=CLI, token_endpoint_auth_method="none") as cli:
        async def poll() -> dict[str, object]:
            return dict(await cli.fetch_token(f"{identity.issuer}/oauth/token", grant_type=DEVICE_CODE,
                                              device_code=started["device_code"]))

        with pytest.raises(AuthlibOAuthError) as pending:
            await poll()
        assert pending.value.error == "authorization_pending"
        with pytest.raises(AuthlibOAuthError) as fast:
            await poll()  # no time passed: too fast
        assert fast.value.error == "slow_down"
        browser = Browser(identity)
        try:
            done = await browser.confirm_device(str(started["user_code"]).lower(), "+8613811116666")
        finally:
            await browser.close()
        assert done.status_code == 200 and "设备已登录" in done.text
        identity.clock.advance(seconds=11)
        token = await poll()
        with pytest.raises(AuthlibOAuthError):
            await poll()  # used
    principal = await verifier_for(identity).verify(str(token["access_token"]))
    assert principal.subject == officer and principal.claims["client_id"] == CLI
    assert token["refresh_token"]


async def test_a_denied_or_expired_device_code_gives_no_token(identity: Identity) -> None:
    await identity.person("孙七", "+8613811117777")
    denied, expired = await device_start(identity), await device_start(identity)
    browser = Browser(identity)
    try:
        await browser.confirm_device(str(denied["user_code"]), "+8613811117777", decision="deny")
    finally:
        await browser.close()
    async with identity.http() as http:
        answer = await http.post("/oauth/token", data={"grant_type": DEVICE_CODE, "client_id": CLI,
                                                       "device_code": denied["device_code"]})
        assert answer.json()["error"] == "access_denied"
        identity.clock.advance(minutes=11)
        answer = await http.post("/oauth/token", data={"grant_type": DEVICE_CODE, "client_id": CLI,
                                                       "device_code": expired["device_code"]})
        assert answer.json()["error"] == "expired_token"


async def test_revoking_a_grant_shows_in_the_next_token_and_disabling_stops_refresh_at_once(
        identity: Identity) -> None:
    admin = await identity.admin()
    worker = await identity.with_grant("周八", "community_worker", FENGSHU, phone="+8613811118888")
    browser = Browser(identity)
    try:
        token = await portal_sign_in(identity, browser, "+8613811118888")
    finally:
        await browser.close()
    verifier = verifier_for(identity)
    assert (await verifier.verify(str(token["access_token"]))).grants == (Grant("community_worker", FENGSHU),)
    as_admin = await identity.caller(admin)
    listed = await as_admin(identity.grants.ListGrants, pb.ListGrantsRequest(parent=f"accounts/{worker}"))
    await as_admin(identity.grants.RevokeGrant, pb.RevokeGrantRequest(name=listed.grants[0].name, reason="left",
                                                                        request_id=rid()))
    async with portal_client(identity) as client:
        refreshed = await client.refresh_token(refresh_token=str(token["refresh_token"]))
        assert (await verifier.verify(refreshed["access_token"])).grants == ()
        # The old access token lives out its lifetime (≤ 15 min), then it is refused.
        await verifier.verify(str(token["access_token"]))
        identity.clock.advance(seconds=int(token["expires_in"]))  # type: ignore[call-overload]
        with pytest.raises(Exception, match="expired"):
            await verifier.verify(str(token["access_token"]))
        # Signed in still, with a fresh access token, when the account is disabled:
        latest = await client.refresh_token(refresh_token=str(refreshed["refresh_token"]))
        as_admin = await identity.caller(admin)  # the first admin token expired with the clock, too
        await as_admin(identity.accounts.DisableAccount, pb.DisableAccountRequest(
            name=f"accounts/{worker}", reason="left the community", request_id=rid()))
        # its refresh token stops at once (never used before: not the reuse rule at work),
        with pytest.raises(AuthlibOAuthError) as stopped:
            await client.refresh_token(refresh_token=str(latest["refresh_token"]))
        assert stopped.value.error == "invalid_grant"
        # and the access token it holds lives out its lifetime (at most 15 minutes), no longer.
        assert int(latest["expires_in"]) <= 15 * 60
        identity.clock.advance(seconds=int(latest["expires_in"]) - 1)
        await verifier.verify(latest["access_token"])
        identity.clock.advance(seconds=1)
        with pytest.raises(Exception, match="expired"):
            await verifier.verify(latest["access_token"])
