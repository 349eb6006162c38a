"""A service's own access token, for calling other services: OAuth 2 client credentials at the
platform's issuer, cached and renewed before it expires.

    credentials = ClientCredentials.from_settings(settings)      # LINLI_CLIENT_ID, LINLI_CLIENT_SECRET_FILE
    channel = make_channel(points_addr, token=credentials)        # asked on every call

Each platform service has a client of its own at the issuer (`svc-<service>`, provisioned by
identity; under `make run` its secret is in `var/identity-clients/svc-<service>.secret`, mode
0600; in a deployment a mounted Secret). Nothing here can sign a token: the issuer does, and
the callee checks it against the issuer's JWKS like any other.

Renewal: a token is renewed once less than a fifth of its life (at least 30 s) remains, by the
first call that notices; concurrent calls wait for that one fetch. When the issuer cannot be
reached, calls go on with the token held while it is valid (a warning is logged and the next
try waits `retry_seconds`); with no valid token, the call fails UNAVAILABLE — the caller's
client retries, as with any service being briefly away. The secret file is read at every fetch,
so a rotated Secret is picked up without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from linli_runtime.clock import Clock, SystemClock
from linli_runtime.errors import Unavailable
from linli_runtime.oidc import DISCOVERY_PATH, reached_at
from linli_runtime.registry import service_client_id
from linli_runtime.settings import IssuerSettings

log = logging.getLogger("linli.service_token")


def read_secret(path: Path) -> str:
    """A client secret from its file (`make run` writes it 0600; a deployment mounts a Secret)."""
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(f"{path} is empty: it must hold the client's secret")
    return secret


class ClientCredentials:
    """The token source a service passes to `make_channel` (see the module docstring)."""

    def __init__(
        self,
        *,
        client_id: str,
        secret_file: Path,
        issuer: str,
        internal_url: str = "",
        clock: Clock | None = None,
        ca_file: str | None = None,
        timeout: float = 5.0,
        retry_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not issuer:
            raise ValueError("ClientCredentials needs the issuer's URL (its discovery names the token endpoint)")
        self.client_id = client_id
        self.secret_file = secret_file
        self.issuer = issuer.rstrip("/")
        self.internal_url = internal_url.rstrip("/")
        self.token_url = ""
        self.clock = clock or SystemClock()
        self.retry_seconds = retry_seconds
        self._timeout = timeout
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._transport = transport
        self._token = ""
        self._expires: datetime | None = None
        self._renew_at: datetime | None = None
        self._failed_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were fetched (tests watch the caching)

    @classmethod
    def from_settings(cls, settings: IssuerSettings, *, clock: Clock | None = None) -> ClientCredentials:
        """This service's credentials from its settings; ValueError naming what is missing."""
        if not settings.client_secret_file:
            raise ValueError(f"{settings.service_name} calls other services: set LINLI_CLIENT_SECRET_FILE to the "
                             "file holding its client secret (and LINLI_ISSUER_URL)")
        if not settings.issuer_url:
            raise ValueError("set LINLI_ISSUER_URL: the issuer this service gets its token from")
        return cls(client_id=settings.client_id or service_client_id(settings.service_name),
                   secret_file=Path(settings.client_secret_file), issuer=settings.issuer_url,
                   internal_url=settings.issuer_internal_url, clock=clock, ca_file=settings.issuer_ca_file or None)

    def _valid(self, now: datetime) -> bool:
        return bool(self._token) and self._expires is not None and now < self._expires - timedelta(seconds=5)

    def _fresh(self, now: datetime) -> bool:
        return self._valid(now) and self._renew_at is not None and now < self._renew_at

    async def __call__(self) -> str:
        if self._fresh(self.clock.now()):
            return self._token
        async with self._lock:
            now = self.clock.now()
            if self._fresh(now):
                return self._token  # another call renewed it meanwhile
            problem = "the last try failed moments ago"
            if self._failed_at is None or (now - self._failed_at).total_seconds() >= self.retry_seconds:
                try:
                    await self._fetch(now)
                    return self._token
                except (httpx.HTTPError, ValueError, OSError) as exc:
                    self._failed_at = now
                    problem = str(exc)
                    log.warning("could not get this service's token from the issuer",
                                extra={"client_id": self.client_id, "error": problem})
            if self._valid(now):
                return self._token
            raise Unavailable(f"this service could not get its access token from the issuer ({problem}); "
                              "try again shortly", reason="ISSUER_UNAVAILABLE")

    async def _endpoint(self, client: httpx.AsyncClient) -> str:
        if not self.token_url:
            where = (self.internal_url or self.issuer) + DISCOVERY_PATH
            discovery = (await client.get(where)).raise_for_status().json()
            found = discovery.get("token_endpoint") if isinstance(discovery, dict) else None
            if not isinstance(found, str) or not found:
                raise ValueError(f"{where} names no token_endpoint")
            self.token_url = reached_at(found, self.issuer, self.internal_url)
        return self.token_url

    async def _fetch(self, now: datetime) -> None:
        secret = await asyncio.to_thread(read_secret, self.secret_file)
        async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify, transport=self._transport) as client:
            reply = await client.post(await self._endpoint(client), data={"grant_type": "client_credentials"},
                                      auth=(self.client_id, secret))
            body: Any = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
            if reply.status_code != 200:
                error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
                raise ValueError(f"the issuer refused client {self.client_id}: HTTP {reply.status_code} "
                                 f"{error or reply.text[:200]}")
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise ValueError("the issuer's token response has no access_token or expires_in")
        self.fetches += 1
        self._token = token
        self._expires = now + timedelta(seconds=float(lifetime))
        self._renew_at = self._expires - timedelta(seconds=max(30.0, float(lifetime) / 5))
        self._failed_at = None
