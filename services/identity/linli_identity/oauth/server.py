"""The token endpoint, the device authorization endpoint and the authorization request's
checks — the rules of RFC 6749, 7636, 8628 and OIDC Core, independent of the web framework.

Token endpoint (`POST /oauth/token`), by `grant_type`:

| grant_type | client | gives |
|---|---|---|
| authorization_code | portal (secret) | access + refresh (+ ID token with `openid`); PKCE verifier checked |
| refresh_token | portal, CLI | access + a new refresh token; the old one is spent (reuse revokes the family) |
| client_credentials | a service (secret) | access token with `service` at the root (the portal's: `portal`) |
| urn:ietf:params:oauth:grant-type:device_code | CLI (public) | access + refresh once the person approved |

Revocation (`POST /oauth/revoke`, RFC 7009): a refresh token ends with every token of its
sign-in (its family); an access token cannot be recalled — it lapses within its lifetime — so
the answer is 200 either way, as the RFC asks.

Clients authenticate with HTTP Basic or `client_id`/`client_secret` in the form (one method at a
time); a public client sends its `client_id` only. Every token is for an *active* account: a
disabled account's codes, device approvals and refresh tokens all answer `invalid_grant`.

Errors that change state (a reused refresh token revoking its family, a device poll recording
its time) are committed before the error is raised.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.accounts import ACTIVE, Accounts
from linli_identity.grants import Grants
from linli_identity.oauth import errors
from linli_identity.oauth.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    GRANT_TYPES,
    REFRESH_TOKEN,
    Client,
    Clients,
    require_grant_type,
)
from linli_identity.oauth.codes import AuthorizationCodes, check_challenge
from linli_identity.oauth.device import DeviceCodes
from linli_identity.oauth.errors import OAuthError
from linli_identity.oauth.refresh import RefreshTokens, Refused
from linli_identity.tokens import Subject, TokenIssuer
from linli_runtime.db import Database

SCOPES = ("openid", "profile", "offline_access")
DEFAULT_SCOPE = "openid"


def parse_scope(value: str) -> str:
    """The requested OAuth scopes, checked and de-duplicated (order kept)."""
    wanted = list(dict.fromkeys(value.split())) if value.strip() else [DEFAULT_SCOPE]
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scope {unknown[0][:40]!r}; known: {' '.join(SCOPES)}")
    return " ".join(wanted)


def client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str | None]:
    """(client_id, secret or None) from HTTP Basic or the form (RFC 6749 §2.3.1)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise errors.invalid_client("use HTTP Basic or client_id/client_secret in the form")
        if form.get("client_secret"):
            raise errors.invalid_request("send the client secret one way, not two")
        try:
            client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.invalid_client("the Basic credentials are malformed") from exc
        if not sep:
            raise errors.invalid_client("the Basic credentials are malformed")
        return unquote(client_id), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret") or None


@dataclass(frozen=True)
class AuthorizeRequest:
    """A checked authorization request (GET /oauth/authorize)."""

    client: Client
    redirect_uri: str
    code_challenge: str
    scope: str
    state: str
    nonce: str

    def as_form(self) -> dict[str, str]:
        """The request's parameters, for the consent form to post back."""
        return {"response_type": "code", "client_id": self.client.client_id, "redirect_uri": self.redirect_uri,
                "code_challenge": self.code_challenge, "code_challenge_method": "S256", "scope": self.scope,
                "state": self.state, "nonce": self.nonce}


class AuthorizeError(Exception):
    """An authorization request that fails. With `redirect_to`, the error goes back to the
    client (RFC 6749 §4.1.2.1); without (unknown client, bad redirect URI), it is shown to the
    person, never redirected to an unchecked address."""

    def __init__(self, error: str, description: str, redirect_to: str = "") -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_to = redirect_to


class OAuthServer:
    def __init__(self, db: Database, *, issuer_url: str, accounts: Accounts, grants: Grants, clients: Clients,
                 codes: AuthorizationCodes, devices: DeviceCodes, refresh: RefreshTokens, tokens: TokenIssuer) -> None:
        self.db = db
        self.issuer_url = issuer_url
        self.accounts = accounts
        self.grants = grants
        self.clients = clients
        self.codes = codes
        self.devices = devices
        self.refresh = refresh
        self.tokens = tokens

    # -- the token endpoint ---------------------------------------------------------------------

    async def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, secret = client_credentials(form, authorization)
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise errors.invalid_request("grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise errors.unsupported_grant_type(grant_type)
        async with self.db.session() as session:
            client = await self.clients.authenticate(session, client_id, secret)
        require_grant_type(client, grant_type)
        if grant_type == AUTHORIZATION_CODE:
            return await self._authorization_code(client, form)
        if grant_type == REFRESH_TOKEN:
            return await self._refresh_token(client, form)
        if grant_type == CLIENT_CREDENTIALS:
            return await self._client_credentials(client, form)
        return await self._device_code(client, form)

    async def subject(self, session: AsyncSession, account_id: str) -> Subject:
        """Whom a token will be about: an active account and its grants now."""
        account = await self.accounts.find(session, account_id)
        if account is None or account.status != ACTIVE:
            raise errors.invalid_grant("the account is disabled or unknown")
        grants = await self.grants.active_for(session, account.id)
        return Subject(account.id, account.display_name, account.kind, grants)

    async def _tokens(self, session: AsyncSession, client: Client, subject: Subject, scope: str, *, nonce: str = "",
                      family_id: str | None = None, refresh_token: str | None = None) -> dict[str, Any]:
        access = self.tokens.access_token(subject, client_id=client.client_id, scope=scope)
        body: dict[str, Any] = {"access_token": access.token, "token_type": "Bearer", "expires_in": access.expires_in,
                                "scope": scope}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        elif client.allows(REFRESH_TOKEN):
            body["refresh_token"] = await self.refresh.issue(session, account_id=subject.account_id,
                                                             client_id=client.client_id, scope=scope,
                                                             family_id=family_id)
        if "openid" in scope.split():
            body["id_token"] = self.tokens.id_token(subject, client_id=client.client_id, nonce=nonce)
        return body

    async def _authorization_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code", "")
        if not code:
            raise errors.invalid_request("code is required")
        async with self.db.transaction() as session:
            stored = await self.codes.redeem(session, code=code, client_id=client.client_id,
                                             redirect_uri=form.get("redirect_uri", ""),
                                             code_verifier=form.get("code_verifier", ""))
            subject = await self.subject(session, stored.account_id)
            return await self._tokens(session, client, subject, stored.scope, nonce=stored.nonce)

    async def _refresh_token(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        if not token:
            raise errors.invalid_request("refresh_token is required")
        async with self.db.transaction() as session:
            outcome = await self.refresh.rotate(session, token, client.client_id)
            if isinstance(outcome, Refused):
                refused = outcome  # the family's revocation (reuse) commits with this transaction
            else:
                requested = form.get("scope", "")
                if requested and not set(parse_scope(requested).split()) <= set(outcome.scope.split()):
                    raise OAuthError("invalid_scope", "a refreshed token may not have scopes the first one lacked")
                subject = await self.subject(session, outcome.account_id)
                return await self._tokens(session, client, subject, outcome.scope, refresh_token=outcome.token)
        raise errors.invalid_grant(refused.description)

    async def _client_credentials(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        if not client.account_id:
            raise errors.unauthorized_client("this client acts for no service account")
        requested = form.get("scope", "")
        if requested.strip():
            raise OAuthError("invalid_scope", "client credentials take no scope: the token is the service's")
        async with self.db.session() as session:
            account = await self.accounts.find(session, client.account_id)
            if account is None or account.status != ACTIVE:
                raise errors.invalid_grant("the service account is disabled")
            carried = await self.grants.machine_grants(session, account.id)
        subject = Subject(account.id, account.display_name, account.kind, carried)
        access = self.tokens.access_token(subject, client_id=client.client_id, scope="")
        return {"access_token": access.token, "token_type": "Bearer", "expires_in": access.expires_in}

    async def _device_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        device_code = form.get("device_code", "")
        if not device_code:
            raise errors.invalid_request("device_code is required")
        async with self.db.transaction() as session:
            result = await self.devices.poll(session, device_code=device_code, client_id=client.client_id)
            if not result.error:
                subject = await self.subject(session, result.account_id)
                return await self._tokens(session, client, subject, result.scope)
        raise OAuthError(result.error, DEVICE_ERRORS.get(result.error, "the device code is not valid"))

    # -- the revocation endpoint (RFC 7009) --------------------------------------------------------

    async def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        client_id, secret = client_credentials(form, authorization)
        token = form.get("token", "")
        if not token:
            raise errors.invalid_request("token is required")
        async with self.db.transaction() as session:
            client = await self.clients.authenticate(session, client_id, secret)
            if form.get("token_type_hint", "refresh_token") in ("refresh_token", "access_token"):
                await self.refresh.revoke(session, token, client.client_id, "revoked by the client")

    # -- the device authorization endpoint (RFC 8628 §3.1) ----------------------------------------

    async def device_authorization(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, secret = client_credentials(form, authorization)
        scope = parse_scope(form.get("scope", ""))
        async with self.db.transaction() as session:
            client = await self.clients.authenticate(session, client_id, secret)
            require_grant_type(client, DEVICE_CODE)
            started = await self.devices.start(session, client_id=client.client_id, scope=scope)
        page = f"{self.issuer_url}/device"
        return {"device_code": started.device_code, "user_code": started.user_code, "verification_uri": page,
                "verification_uri_complete": f"{page}?{urlencode({'user_code': started.user_code})}",
                "expires_in": started.expires_in, "interval": started.interval}

    # -- the authorization endpoint ---------------------------------------------------------------

    async def check_authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        async with self.db.session() as session:
            client = await self.clients.get(session, params.get("client_id", ""))
        if client is None or not client.allows(AUTHORIZATION_CODE):
            raise AuthorizeError("invalid_client", "unknown client, or one that may not sign people in here")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri not in client.redirect_uris:
            raise AuthorizeError("invalid_request", "redirect_uri is not registered for this client")
        state = params.get("state", "")[:500]

        def fail(error: str, description: str) -> AuthorizeError:
            return AuthorizeError(error, description, self.error_redirect(redirect_uri, error, description, state))

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "response_type must be code")
        try:
            check_challenge(params.get("code_challenge", ""), params.get("code_challenge_method", ""))
            scope = parse_scope(params.get("scope", ""))
        except OAuthError as exc:
            raise fail(exc.error, exc.description) from exc
        return AuthorizeRequest(client=client, redirect_uri=redirect_uri, code_challenge=params["code_challenge"],
                                scope=scope, state=state, nonce=params.get("nonce", "")[:255])

    async def approve(self, request: AuthorizeRequest, account_id: str) -> str:
        """The redirect back to the client with a new code."""
        async with self.db.transaction() as session:
            await self.subject(session, account_id)  # an account disabled meanwhile gets no code
            code = await self.codes.issue(session, client_id=request.client.client_id, account_id=account_id,
                                          redirect_uri=request.redirect_uri, code_challenge=request.code_challenge,
                                          scope=request.scope, nonce=request.nonce)
        query = {"code": code, "iss": self.issuer_url}  # `iss`: RFC 9207, against mix-up attacks
        if request.state:
            query["state"] = request.state
        return _with_query(request.redirect_uri, query)

    def error_redirect(self, redirect_uri: str, error: str, description: str, state: str) -> str:
        query = {"error": error, "error_description": description, "iss": self.issuer_url}
        if state:
            query["state"] = state
        return _with_query(redirect_uri, query)

    def discovery(self) -> dict[str, Any]:
        """The OIDC discovery document (`/.well-known/openid-configuration`)."""
        base = self.issuer_url
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "device_authorization_endpoint": f"{base}/oauth/device_authorization",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "jwks_uri": f"{base}/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "name", "kind", "grants", "client_id",
                                 "nonce", "auth_time"],
            "authorization_response_iss_parameter_supported": True,
            "ui_locales_supported": ["zh-CN", "en"],
        }


DEVICE_ERRORS = {
    "authorization_pending": "the person has not confirmed the code yet; poll again after the interval",
    "slow_down": "polling too fast; wait five seconds more between polls",
    "access_denied": "the person denied the request",
    "expired_token": "the device code expired; start the sign-in again",
    "invalid_grant": "the device code is unknown, used, or for another client",
}


def _with_query(uri: str, query: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"
