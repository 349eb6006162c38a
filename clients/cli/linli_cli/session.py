"""Who the CLI acts as and where the services are.

The token comes from `--token`, else `LINLI_TOKEN`, else the sign-in `linli login` stored
(`$LINLI_CONFIG_DIR/session.json`, by default `~/.config/linli/session.json`, mode 0600: the
issuer, the access token and the refresh token). A stored access token about to lapse is
renewed with the refresh token before the command runs (the issuer rotates it: the new one is
stored), so a sign-in lasts as long as the refresh token. Service addresses come from
`<SERVICE>_SERVICE_ADDR` with the `make run` ports as defaults, reached over TLS when a CA is
trusted: the root option `--ca`, else LINLI_GRPC_TLS_CA, else make run's var/tls/ca.pem when the
CLI runs in the repository (linli_runtime.grpc_tls.client_trust).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import jwt

from linli_cli.errors import NOT_SIGNED_IN, CliError, ExitCode, from_rpc
from linli_cli.i18n import _
from linli_cli.output import clock_time
from linli_runtime.clients import make_channel
from linli_runtime.grpc_tls import GrpcTls, TlsConfigError, client_trust
from linli_runtime.registry import pos_address, service_address

T = TypeVar("T")

# The services the CLI talks to (registry names).
SERVICES = ("trust-governance", "volunteer-points", "partner-redemption", "notification")


def config_dir() -> Path:
    if os.environ.get("LINLI_CONFIG_DIR"):
        return Path(os.environ["LINLI_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "linli"


# The CLI's client at the issuer: public (no secret), device flow and refresh tokens.
CLI_CLIENT = "linli-cli"
DEFAULT_ISSUER = "http://127.0.0.1:8090"
# Renew a stored access token this long before it lapses.
RENEW_BEFORE = 30


def default_issuer() -> str:
    return (os.environ.get("LINLI_ISSUER_URL") or DEFAULT_ISSUER).rstrip("/")


def session_file() -> Path:
    return config_dir() / "session.json"


def store_session(stored: dict[str, Any]) -> Path:
    """Write the sign-in readable by its owner only (created 0600, never world-readable)."""
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(stored, f)
    os.chmod(path, 0o600)  # an older file may have been created with other bits
    return path


def load_session() -> dict[str, Any] | None:
    path = session_file()
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        return None
    return stored if isinstance(stored, dict) and stored.get("access_token") else None


def forget_session() -> dict[str, Any] | None:
    """Remove the stored sign-in; returns what it held (to revoke its refresh token)."""
    stored = load_session()
    path = session_file()
    if path.exists():
        path.unlink()
    return stored


def issuer_unreachable(issuer: str, exc: Exception) -> CliError:
    return CliError(_("cannot reach the token issuer at {issuer} ({error}): is `make run` running?").format(
        issuer=issuer, error=exc), ExitCode.UNAVAILABLE)


def renewed(stored: dict[str, Any]) -> dict[str, Any] | None:
    """The stored sign-in with a fresh access token (refresh-token grant, rotated), or None when
    the issuer refuses (the sign-in was revoked, the account disabled, the token expired)."""
    issuer = str(stored.get("issuer", ""))
    endpoint = str(stored.get("token_endpoint") or f"{issuer}/oauth/token")
    try:
        reply = httpx.post(endpoint, timeout=15, data={
            "grant_type": "refresh_token", "client_id": stored.get("client_id", CLI_CLIENT),
            "refresh_token": stored.get("refresh_token", "")})
    except httpx.HTTPError as exc:
        raise issuer_unreachable(issuer, exc) from None
    if reply.status_code != 200:
        return None
    body = reply.json()
    return {**stored, "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token", stored.get("refresh_token", "")),
            "expires_at": time.time() + float(body.get("expires_in", 0))}


@dataclass(frozen=True)
class Identity:
    token: str
    source: str  # "option", "LINLI_TOKEN" or the token file's path
    claims: dict[str, Any]

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.claims.get("exp", 0)), UTC)

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    @property
    def grants(self) -> list[dict[str, str]]:
        """The account's grants the token carries: [{"role": …, "scope": …}]."""
        found = self.claims.get("grants")
        return [{"role": str(g.get("role", "")), "scope": str(g.get("scope", ""))} for g in found
                if isinstance(g, dict)] if isinstance(found, list) else []

    @property
    def scope(self) -> str:
        """The org scope commands default to: the one place the token's grants are for ("" —
        the whole platform, or several places: then a command asks where)."""
        scopes = {g["scope"] for g in self.grants}
        return scopes.pop() if len(scopes) == 1 else ""


def read_claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified: the services verify it; we only show and use them."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise CliError(_("the token is not a Linli token ({error}): run linli login").format(error=exc),
                       ExitCode.UNAUTHENTICATED) from None
    return claims


def identity(token_option: str | None) -> Identity | None:
    """The token to use, or None when not signed in. `token_option` is `--token`, which typer
    fills from LINLI_TOKEN when the option is absent. A stored sign-in is renewed first when
    its access token is about to lapse."""
    if token_option:
        source = "LINLI_TOKEN" if os.environ.get("LINLI_TOKEN") == token_option else "option"
        return Identity(token_option.strip(), source, read_claims(token_option.strip()))
    stored = load_session()
    if stored is None:
        return None
    if float(stored.get("expires_at", 0)) - time.time() < RENEW_BEFORE and stored.get("refresh_token"):
        fresh = renewed(stored)
        if fresh is not None:
            store_session(fresh)
            stored = fresh
    token = str(stored["access_token"])
    return Identity(token, str(session_file()), read_claims(token))


def require_identity(token_option: str | None) -> Identity:
    who = identity(token_option)
    if who is None:
        raise CliError(_(NOT_SIGNED_IN), ExitCode.UNAUTHENTICATED)
    if who.expired:
        raise CliError(_("{not_signed_in} (it expired at {time})").format(
            not_signed_in=_(NOT_SIGNED_IN), time=clock_time(who.expires_at)), ExitCode.UNAUTHENTICATED)
    return who


def address_of(service: str, override: str | None = None) -> str:
    return override or service_address(service)


def pos_edge_of(service: str, override: str | None = None) -> str:
    """Where terminals reach `service`'s public POS edge (`<SERVICE>_POS_ADDR`, make run: 50443)."""
    return override or pos_address(service)


def channel_tls() -> GrpcTls:
    """What the CLI's channels trust (see the module docstring; the root option `--ca` sets
    LINLI_GRPC_TLS_CA for the run)."""
    try:
        return client_trust()
    except TlsConfigError as exc:
        raise CliError(f"--ca / LINLI_GRPC_TLS_*: {exc}", ExitCode.USAGE) from None  # the runtime's words


class Client:
    """One service reached with one credential. `call` runs a stub method and turns a failed
    call into a CliError with a one-line reason."""

    def __init__(self, service: str, *, token: str | None = None, address: str | None = None,
                 metadata: tuple[tuple[str, str], ...] = (), terminal: bool = False, timeout: float = 10.0) -> None:
        self.service = service
        self.address = address_of(service, address)
        self.metadata = metadata
        self.terminal = terminal
        self.tls = channel_tls()
        self.channel = make_channel(self.address, token=token, default_timeout=timeout, tls=self.tls)

    def stub(self, stub_class: Callable[[grpc.aio.Channel], T]) -> T:
        return stub_class(self.channel)

    async def call(self, method: Callable[..., Awaitable[T]], request: Any, **kwargs: Any) -> T:
        return await self.guard(method(request, metadata=self.metadata or None, **kwargs))

    async def stream(self, method: Callable[..., Any], request: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The messages of a server-streaming call as they come, a failure becoming a CliError."""
        try:
            async for message in method(request, metadata=self.metadata or None, **kwargs):
                yield message
        except grpc.aio.AioRpcError as error:
            raise from_rpc(error, self.service, self.address, terminal=self.terminal, ca=self.tls.ca_file) from None

    async def guard(self, calls: Awaitable[T]) -> T:
        """Await `calls` (one call or several made on this client's channel), a failure
        becoming a CliError."""
        try:
            return await calls
        except grpc.aio.AioRpcError as error:
            raise from_rpc(error, self.service, self.address, terminal=self.terminal, ca=self.tls.ca_file) from None

    async def change(self, calls: Awaitable[T], request_id: str) -> T:
        """Like `guard`, for a change sent with `request_id`: when its outcome is unknown (the
        service did not answer), the reason says how to retry it without applying it twice."""
        try:
            return await self.guard(calls)
        except CliError as exc:
            if exc.code == ExitCode.UNAVAILABLE and not exc.unreached:
                exc.message += _("; retry with --request-id {request_id} (the service applies it once)").format(
                    request_id=request_id)
            raise

    async def close(self) -> None:
        await self.channel.close()


@asynccontextmanager
async def client(service: str, token_option: str | None, *, address: str | None = None) -> AsyncIterator[Client]:
    """A client of `service` carrying the signed-in operator's token."""
    who = require_identity(token_option)
    c = Client(service, token=who.token, address=address)
    try:
        yield c
    finally:
        await c.close()


def run(coro: Awaitable[T]) -> T:
    """Run one command's calls on a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def pages(fetch: Callable[[str], Awaitable[tuple[list[T], str]]], limit: int = 0) -> list[T]:
    """Every item of a paged List (AIP-158), or the first `limit` when limit > 0."""
    items: list[T] = []
    token = ""
    while True:
        page, token = await fetch(token)
        items.extend(page)
        if not token or (limit and len(items) >= limit):
            return items[:limit] if limit else items
