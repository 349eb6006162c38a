"""People sign in to the portal at the platform's issuer: OAuth 2 authorization code with PKCE
(S256), the portal a confidential client (`linli-portal`). Nobody pastes a token.

    GET /signin?next=/ops/chengdu  → the issuer's sign-in page (phone + SMS code), then "continue"
    GET /auth/callback?code&state  → code + verifier exchanged for tokens → back to `next`
    POST /signout                   → the refresh token revoked at the issuer, the cookies gone

The portal keeps no session store, so its replicas share nothing: the session lives in cookies,
all HttpOnly, SameSite=Lax, Secure when LINLI_PORTAL_SECURE_COOKIES:

| cookie | holds | path | lives |
|---|---|---|---|
| `linli_session` | the access token (checked against the issuer's JWKS on every request) | / | the token's lifetime |
| `linli_refresh` | the refresh token (renews the session before the access token lapses) | / | 30 days |
| `linli_signin` | the sign-in in flight: state, PKCE verifier, nonce, where to go next | /auth | 10 minutes |

A revoked grant or a disabled account shows within one access-token lifetime: the next renewal
carries the account's grants as they are then, or fails and asks to sign in again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from linli_runtime.oidc import DISCOVERY_PATH, reached_at

SESSION_COOKIE = "linli_session"
REFRESH_COOKIE = "linli_refresh"
SIGNIN_COOKIE = "linli_signin"
SIGNIN_TTL = 600
REFRESH_TTL = 30 * 24 * 3600
# Renew the session this long before its access token lapses.
RENEW_BEFORE = 60


class SignInFailed(Exception):
    """The issuer refused (a used code, a revoked refresh token…) or could not be reached."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Pending:
    """A sign-in in flight, kept in the `linli_signin` cookie between the redirect and the callback."""

    state: str
    verifier: str
    nonce: str
    next: str

    def cookie(self) -> str:
        raw = json.dumps({"s": self.state, "v": self.verifier, "n": self.nonce, "x": self.next}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_cookie(cls, value: str) -> Pending | None:
        try:
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            return cls(str(data["s"]), str(data["v"]), str(data["n"]), str(data["x"]))
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def start(cls, next_path: str) -> Pending:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(48), secrets.token_urlsafe(16), next_path)

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def expires_at(token: str) -> float:
    """A JWT's `exp` (unverified: only to decide when to renew; the token is verified anyway)."""
    try:
        payload = token.split(".")[1]
        return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


def needs_renewal(token: str) -> bool:
    return expires_at(token) - time.time() < RENEW_BEFORE


class SignInClient:
    """The portal's OAuth client at the issuer (discovery, token and revocation endpoints)."""

    def __init__(self, *, issuer: str, client_id: str, secret_file: Path, redirect_uri: str,
                 internal_url: str = "", ca_file: str | None = None, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.secret_file = secret_file
        self.redirect_uri = redirect_uri
        self.internal_url = internal_url.rstrip("/")
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._timeout = timeout
        self._transport = transport
        self._discovery: dict[str, Any] | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, verify=self._verify, transport=self._transport)

    async def _endpoints(self) -> dict[str, Any]:
        if self._discovery is None:
            try:
                async with self._client() as client:
                    found = (await client.get((self.internal_url or self.issuer) + DISCOVERY_PATH)
                             ).raise_for_status().json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SignInFailed(f"the issuer at {self.issuer} cannot be reached: {exc}") from exc
            self._discovery = found if isinstance(found, dict) else {}
        return self._discovery

    async def authorization_url(self, pending: Pending) -> str:
        # The browser goes there: the public URL, as discovery names it.
        endpoint = (await self._endpoints()).get("authorization_endpoint") or f"{self.issuer}/oauth/authorize"
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                 "scope": "openid offline_access", "state": pending.state, "nonce": pending.nonce,
                 "code_challenge": pending.challenge, "code_challenge_method": "S256"}
        return f"{endpoint}?{urlencode(query)}"

    async def _post(self, endpoint_key: str, form: dict[str, str]) -> httpx.Response:
        endpoints = await self._endpoints()
        fallback = {"token_endpoint": "/oauth/token", "revocation_endpoint": "/oauth/revoke"}[endpoint_key]
        url = reached_at(str(endpoints.get(endpoint_key) or self.issuer + fallback), self.issuer, self.internal_url)
        secret = (await asyncio.to_thread(self.secret_file.read_text, "utf-8")).strip()
        try:
            async with self._client() as client:
                return await client.post(url, data=form, auth=(self.client_id, secret))
        except httpx.HTTPError as exc:
            raise SignInFailed(f"the issuer cannot be reached: {exc}") from exc

    async def _tokens(self, form: dict[str, str]) -> TokenSet:
        reply = await self._post("token_endpoint", form)
        body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
        if reply.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise SignInFailed(str(body.get("error_description") or body.get("error") or reply.status_code)
                               if isinstance(body, dict) else str(reply.status_code))
        return TokenSet(str(body["access_token"]), str(body.get("refresh_token", "")), int(body.get("expires_in", 0)))

    async def exchange(self, code: str, pending: Pending) -> TokenSet:
        return await self._tokens({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": self.redirect_uri, "code_verifier": pending.verifier})

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._tokens({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, refresh_token: str) -> None:
        """End the sign-in at the issuer (best effort: the cookies go either way)."""
        try:
            await self._post("revocation_endpoint", {"token": refresh_token, "token_type_hint": "refresh_token"})
        except SignInFailed:
            pass
