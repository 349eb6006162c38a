"""OAuth clients: who may ask the issuer for tokens, and how.

| client | kind | grant types |
|---|---|---|
| `linli-portal` | confidential (secret) | authorization_code (PKCE S256 required), refresh_token |
| `linli-cli` | public (no secret) | device_code, refresh_token |
| `svc-<service>` (one per platform service, the portal too) | confidential | client_credentials |

A service client acts as a service account of its own (`kind=service`); its tokens carry the
one grant `service` at the root scope — or the service's own machine role when it has one: the
web portal's `svc-portal` carries only `portal` (read-only public pages), recorded on its account
by provisioning. Secrets are random (32 bytes, URL-safe) and stored as SHA-256 digests.

`provision` creates the platform's clients idempotently, and the secret *file* of each
confidential client (`<secrets dir>/<client_id>.secret`, mode 0600) is the truth: a file that
exists gives the client its secret (a deployment mounts its Secrets there; a rotated Secret is
taken up at the next start), a missing one makes provisioning choose a new secret and write
the file (`make run`; the old secret stops working).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.accounts import PROVISIONING, SERVICE, Accounts
from linli_identity.grants import Grants
from linli_identity.hashing import digest, matches
from linli_identity.oauth.errors import OAuthError, invalid_client
from linli_identity.tables import OAuthClient
from linli_runtime.auth import Grant, Role
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.models import table, typed

log = logging.getLogger("linli.identity.clients")

CLIENTS = table(OAuthClient)

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE)

PORTAL = "linli-portal"
CLI = "linli-cli"
SERVICE_PREFIX = "svc-"


@dataclass(frozen=True)
class Client:
    client_id: str
    display_name: str
    confidential: bool
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    account_id: str | None

    def allows(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _client(row: OAuthClient) -> Client:
    return Client(client_id=row.client_id, display_name=row.display_name, confidential=row.secret_hash is not None,
                  redirect_uris=tuple(json.loads(row.redirect_uris)), grant_types=tuple(json.loads(row.grant_types)),
                  account_id=row.account_id)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Clients:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def _row(self, session: AsyncSession, client_id: str) -> OAuthClient | None:
        conn = await session.connection()
        row = (await conn.execute(sa.select(CLIENTS).where(CLIENTS.c.client_id == client_id))).first()
        return typed(OAuthClient, row) if row is not None else None

    async def get(self, session: AsyncSession, client_id: str) -> Client | None:
        row = await self._row(session, client_id)
        return _client(row) if row is not None else None

    async def authenticate(self, session: AsyncSession, client_id: str, secret: str | None) -> Client:
        """The client, if `secret` is right for a confidential one (or absent for a public one)."""
        row = await self._row(session, client_id) if client_id else None
        if row is None:
            raise invalid_client("unknown client")
        if row.secret_hash is None:
            if secret:
                raise invalid_client("this is a public client: send no secret")
            return _client(row)
        if not secret or not matches(secret, row.secret_hash, salt=row.client_id):
            raise invalid_client("the client secret is wrong")
        return _client(row)

    async def save(self, session: AsyncSession, *, client_id: str, display_name: str, grant_types: Iterable[str],
                   redirect_uris: Iterable[str] = (), secret: str | None = None, account_id: str | None = None) -> None:
        """Create or update a client (a given secret replaces the stored one)."""
        values = {"display_name": display_name, "grant_types": json.dumps(list(grant_types)),
                  "redirect_uris": json.dumps(list(redirect_uris)), "account_id": account_id}
        if secret is not None:
            values["secret_hash"] = digest(secret, salt=client_id)
        conn = await session.connection()
        if await self._row(session, client_id) is None:
            await conn.execute(CLIENTS.insert().values(client_id=client_id, created_at=self.clock.now(),
                                                       **{"secret_hash": None, **values}))
        else:
            await conn.execute(CLIENTS.update().where(CLIENTS.c.client_id == client_id).values(**values))


def require_grant_type(client: Client, grant_type: str) -> None:
    if not client.allows(grant_type):
        raise OAuthError("unauthorized_client", f"client {client.client_id} may not use {grant_type}")


def _write_secret(directory: Path, client_id: str, secret: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{client_id}.secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return path


def secret_file(directory: Path, client_id: str) -> Path:
    return directory / f"{client_id}.secret"


def _read_secret(path: Path) -> str | None:
    if not path.exists():
        return None
    secret = path.read_text(encoding="utf-8").strip()
    return secret or None


async def provision(db: Database, clients: Clients, accounts: Accounts, grants: Grants, *, secrets_dir: Path,
                    portal_redirect_uris: Iterable[str], services: Mapping[str, str]) -> list[str]:
    """Create the platform's clients if missing (see the module docstring): the portal's, the
    CLI's, and one per platform service in `services` (name → the role its tokens carry).
    Returns the ids of the clients whose secret was newly written to a file."""
    written: list[str] = []
    Wanted = tuple[str, str, list[str], list[str], bool, str | None, str]
    wanted: list[Wanted] = [(PORTAL, "邻里门户 Linli portal", [AUTHORIZATION_CODE, REFRESH_TOKEN],
                             list(portal_redirect_uris), True, None, "")]
    wanted.append((CLI, "linli 命令行 Linli CLI", [DEVICE_CODE, REFRESH_TOKEN], [], False, None, ""))
    wanted += [(f"{SERVICE_PREFIX}{name}", name, [CLIENT_CREDENTIALS], [], True, name, role)
               for name, role in services.items()]
    for client_id, display_name, grant_types, redirects, confidential, service, role in wanted:
        for attempt in range(2):
            try:
                if await _provision_one(db, clients, accounts, grants, secrets_dir, client_id, display_name,
                                        grant_types, redirects, confidential, service, role):
                    written.append(client_id)
                break
            except IntegrityError:
                # Another replica starting at the same moment created the client first: look again.
                if attempt:
                    raise
    if written:
        log.info("OAuth client secrets written", extra={"clients": written, "directory": str(secrets_dir)})
    return written


async def _provision_one(db: Database, clients: Clients, accounts: Accounts, grants: Grants, secrets_dir: Path,
                         client_id: str, display_name: str, grant_types: list[str], redirects: list[str],
                         confidential: bool, service: str | None, role: str) -> bool:
    """One client, in one transaction; True when its secret was newly written to its file."""
    given = await asyncio.to_thread(_read_secret, secret_file(secrets_dir, client_id)) if confidential else None
    async with db.transaction() as session:
        row = await clients._row(session, client_id)
        account_id = row.account_id if row is not None else None
        if service is not None and account_id is None:
            account = await accounts.create(session, display_name=service, phone=None, kind=SERVICE,
                                            created_by=PROVISIONING, reason=f"client credentials of {service}")
            account_id = account.id
        if account_id is not None and role and role != Role.SERVICE.value:
            await _machine_role(session, grants, account_id, Role(role), service or client_id)
        secret, write = None, False
        if confidential and given is not None:
            if row is None or row.secret_hash is None or not matches(given, row.secret_hash, salt=client_id):
                secret = given  # the deployment's Secret (or a file kept from an earlier start)
        elif confidential:
            secret, write = new_secret(), True
        await clients.save(session, client_id=client_id, display_name=display_name, grant_types=grant_types,
                           redirect_uris=redirects, secret=secret, account_id=account_id)
        if write and secret is not None:
            # Written before the commit: a failed write rolls the new secret back with it.
            await asyncio.to_thread(_write_secret, secrets_dir, client_id, secret)
    return write


async def _machine_role(session: AsyncSession, grants: Grants, account_id: str, role: Role, service: str) -> None:
    """Record `role` at the root for a service account once (its tokens then carry it instead
    of `service`); any other grant it holds is revoked, so the account has that one role."""
    held = await grants.active_for(session, account_id)
    if held == (Grant(role.value, ""),):
        return
    await grants.set_machine_role(session, account_id=account_id, role=role,
                                  reason=f"the machine role of {service}'s client")
