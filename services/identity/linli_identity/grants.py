"""Grants: a role at an org scope, given to an account by someone with authority over that scope.

A grant records who gave it, why and when; revoking records who, why and when, and keeps the
row — the audit trail is the table. Each change publishes `identity.grant.granted|revoked`
through the outbox, with the grant's scope as the event's org scope.

The authority rules themselves live in `authority.py`. They are checked here against the
grantor's grants *as stored now* (an `Actor` is read fresh from the database on every call), not
against the grants in the grantor's access token: identity owns the grants, so a grantor whose
authority was revoked a minute ago cannot use the token still in their pocket to grant.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import identity_pb2 as events_pb2
from linli_identity import authority
from linli_identity.accounts import ACTIVE, BOOTSTRAP, PROVISIONING, SERVICE, MakeEvent, scope_within
from linli_identity.names import account_name, grant_name, new_grant_id
from linli_identity.tables import Account, RoleGrant
from linli_runtime import fields, paging
from linli_runtime.auth import Grant, Role, normalize_path
from linli_runtime.clock import Clock
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from linli_runtime.events.outbox import publish_in
from linli_runtime.models import table, typed, typed_all
from linli_runtime.times import to_timestamp

GRANTS = table(RoleGrant)
ACCOUNTS = table(Account)


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the grants they hold right now."""

    account_id: str
    grants: tuple[Grant, ...]

    @property
    def is_platform_admin(self) -> bool:
        return authority.is_platform_admin(self.grants)


def parse_role(field: str, value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument.field(field, f"is not a role; roles are: {', '.join(r.value for r in Role)}") from None


# What a platform service's tokens carry (client credentials): the service role at the root.
SERVICE_GRANT = Grant(Role.SERVICE.value, "")


class Grants:
    def __init__(self, clock: Clock, make_event: MakeEvent) -> None:
        self.clock = clock
        self.make_event = make_event

    async def active_for(self, session: AsyncSession, account_id: str) -> tuple[Grant, ...]:
        """The account's grants in force, oldest first (what its next token carries)."""
        conn = await session.connection()
        rows = (await conn.execute(sa.select(GRANTS.c.role, GRANTS.c.scope).where(
            GRANTS.c.account_id == account_id, GRANTS.c.revoked_at.is_(None)).order_by(GRANTS.c.seq))).all()
        return tuple(Grant(r.role, r.scope) for r in rows)

    async def actor(self, session: AsyncSession, account_id: str) -> Actor:
        """The caller as an actor; PERMISSION_DENIED when its account is missing or disabled
        (a token outlives a disabling by at most its lifetime — not here). A service account
        acts with what its tokens carry (`machine_grants`)."""
        conn = await session.connection()
        row = (await conn.execute(sa.select(ACCOUNTS.c.status, ACCOUNTS.c.kind)
                                  .where(ACCOUNTS.c.id == account_id))).first()
        if row is None or row.status != ACTIVE:
            raise PermissionDenied("your account is disabled or unknown here; ask an administrator",
                                   reason="ACCOUNT_DISABLED")
        if row.kind == SERVICE:
            return Actor(account_id, await self.machine_grants(session, account_id))
        return Actor(account_id, await self.active_for(session, account_id))

    async def machine_grants(self, session: AsyncSession, account_id: str) -> tuple[Grant, ...]:
        """What a service account's tokens carry: the machine role provisioning recorded for
        it (`portal` for the web portal's client), else `service` at the root."""
        return await self.active_for(session, account_id) or (SERVICE_GRANT,)

    async def _event(self, session: AsyncSession, verb: str, grant: RoleGrant, actor: str, reason: str) -> None:
        payload = events_pb2.GrantChanged(
            grant=grant_name(grant.account_id, grant.id), account=account_name(grant.account_id), role=grant.role,
            scope=grant.scope, actor=account_name(actor) if actor.startswith("acc_") else "", reason=reason,
            changed_at=to_timestamp(self.clock.now()))
        await publish_in(session, self.make_event(f"identity.grant.{verb}", payload, grant.scope))

    async def grant(self, session: AsyncSession, *, actor: Actor, account: Account, role: str, scope: str,
                    reason: str) -> RoleGrant:
        """Give `role` at `scope` to `account`, if the actor has the authority (see authority.py)."""
        wanted = parse_role("grant.role", role)
        where = normalize_path(scope)
        why = fields.text("grant.reason", reason, 500, required=True)
        problem = authority.role_level_problem(wanted, where)
        if problem is not None:
            raise InvalidArgument.field("grant.scope", problem)
        if account.status != ACTIVE:
            raise FailedPrecondition(f"{account_name(account.id)} is disabled; enable it before granting it a role",
                                     reason="ACCOUNT_DISABLED")
        if account.kind == SERVICE:
            raise FailedPrecondition(f"{account_name(account.id)} is a service account: roles are granted to people; "
                                     "a service's power comes with its client", reason="SERVICE_ACCOUNT")
        if account.id == actor.account_id:
            raise PermissionDenied("nobody grants a role to themselves: ask another administrator",
                                   reason="SELF_GRANT")
        if authority.authority_for(actor.grants, wanted, where) is None:
            raise PermissionDenied(
                f"you may not grant {wanted} at '{where or '/'}': it needs a grant whose role may give it and whose "
                "scope contains that place", reason="NO_AUTHORITY",
                metadata={"role": str(wanted), "scope": where})
        return await self.record(session, account_id=account.id, role=wanted, scope=where, by=actor.account_id,
                                  reason=why)

    async def record(self, session: AsyncSession, *, account_id: str, role: Role, scope: str, by: str,
                     reason: str) -> RoleGrant:
        """Write a grant without checking anyone's authority: `grant` after its checks, the
        bootstrap and demo data only."""
        conn = await session.connection()
        same = (await conn.execute(sa.select(GRANTS.c.id).where(
            GRANTS.c.account_id == account_id, GRANTS.c.role == str(role), GRANTS.c.scope == scope,
            GRANTS.c.revoked_at.is_(None)))).first()
        if same is not None:
            raise AlreadyExists(f"{account_name(account_id)} holds {role} at '{scope or '/'}' already "
                                f"({grant_name(account_id, same.id)})", reason="GRANT_EXISTS")
        grant = RoleGrant(id=new_grant_id(), account_id=account_id, role=str(role), scope=scope, granted_by=by,
                          reason=reason, granted_at=self.clock.now())
        result = await conn.execute(GRANTS.insert().values(**grant.model_dump(exclude={"seq"})))
        grant.seq = int(result.inserted_primary_key[0]) if result.inserted_primary_key else None
        await self._event(session, "granted", grant, by, reason)
        return grant

    async def grant_first_admin(self, session: AsyncSession, account: Account) -> RoleGrant:
        """The bootstrap: platform_admin for `account`, refused when any platform admin exists."""
        conn = await session.connection()
        existing = (await conn.execute(sa.select(GRANTS.c.account_id).where(
            GRANTS.c.role == Role.PLATFORM_ADMIN.value, GRANTS.c.revoked_at.is_(None)).limit(1))).first()
        if existing is not None:
            raise FailedPrecondition("a platform admin exists already; further admins are granted by an admin",
                                     reason="ADMIN_EXISTS")
        return await self.record(session, account_id=account.id, role=Role.PLATFORM_ADMIN, scope="", by=BOOTSTRAP,
                                  reason="bootstrap: the first platform admin of a fresh installation")

    async def set_machine_role(self, session: AsyncSession, *, account_id: str, role: Role, reason: str) -> None:
        """Provisioning only: make `role` at the root the one grant of service account
        `account_id` (revoking any other), recorded as given by provisioning."""
        now = self.clock.now()
        conn = await session.connection()
        held = typed_all(RoleGrant, (await conn.execute(sa.select(GRANTS).where(
            GRANTS.c.account_id == account_id, GRANTS.c.revoked_at.is_(None)))).all())
        for grant in held:
            if (grant.role, grant.scope) == (role.value, ""):
                continue
            await conn.execute(GRANTS.update().where(GRANTS.c.id == grant.id).values(
                revoked_at=now, revoked_by=PROVISIONING, revoke_reason=reason))
            changed = grant.model_copy(update={"revoked_at": now, "revoked_by": PROVISIONING, "revoke_reason": reason})
            await self._event(session, "revoked", changed, PROVISIONING, reason)
        if not any((g.role, g.scope) == (role.value, "") for g in held):
            await self.record(session, account_id=account_id, role=role, scope="", by=PROVISIONING, reason=reason)

    async def get(self, session: AsyncSession, account_id: str, grant_id: str) -> RoleGrant:
        conn = await session.connection()
        row = (await conn.execute(sa.select(GRANTS).where(GRANTS.c.id == grant_id,
                                                          GRANTS.c.account_id == account_id))).first()
        if row is None:
            raise NotFound(f"no grant {grant_name(account_id, grant_id)}", reason="GRANT_NOT_FOUND")
        return typed(RoleGrant, row)

    async def revoke(self, session: AsyncSession, *, actor: Actor, grant: RoleGrant, reason: str) -> RoleGrant:
        """End a grant: its holder may give it up; otherwise the authority to grant it is needed."""
        why = fields.text("reason", reason, 500, required=True)
        if grant.revoked_at is not None:
            raise FailedPrecondition(f"{grant_name(grant.account_id, grant.id)} was revoked already",
                                     reason="ALREADY_REVOKED")
        if grant.account_id != actor.account_id and \
                authority.authority_for(actor.grants, Role(grant.role), grant.scope) is None:
            raise PermissionDenied(f"you may not revoke {grant.role} at '{grant.scope or '/'}': only someone who may "
                                   "grant it may revoke it", reason="NO_AUTHORITY")
        now = self.clock.now()
        conn = await session.connection()
        await conn.execute(GRANTS.update().where(GRANTS.c.id == grant.id).values(
            revoked_at=now, revoked_by=actor.account_id, revoke_reason=why))
        changed = grant.model_copy(update={"revoked_at": now, "revoked_by": actor.account_id, "revoke_reason": why})
        await self._event(session, "revoked", changed, actor.account_id, why)
        return changed

    async def list(self, session: AsyncSession, *, account_id: str = "", scope: str | None = None,
                   show_revoked: bool = False, page_size: int = 0, page_token: str = "") -> tuple[list[RoleGrant], str]:
        """One account's grants (or everyone's), optionally only those at or below `scope`,
        oldest first."""
        query = sa.select(GRANTS)
        if account_id:
            query = query.where(GRANTS.c.account_id == account_id)
        if scope is not None:
            query = query.where(scope_within(scope))
        if not show_revoked:
            query = query.where(GRANTS.c.revoked_at.is_(None))
        conn = await session.connection()
        rows, token = await paging.keyset_page(
            conn, query, GRANTS.c.seq, kind=f"grants:{account_id}:{scope}:{show_revoked}", page_token=page_token,
            size=paging.page_size(page_size))
        return typed_all(RoleGrant, rows), token
