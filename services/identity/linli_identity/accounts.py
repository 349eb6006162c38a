"""Accounts: one per person or machine, global across the platform.

An account has a global id (`acc_` + 20 random base-32 characters) — the `sub` of its tokens
and, in time, the key of every person-keyed record on the platform (inbox, help requests,
balances, ballots), so two people who share a local id in two communities are never confused.
It has a display name, a phone number (E.164, unique when set: the phone is how a person signs
in), a kind (`person` | `service`) and a status (`active` | `disabled`, with who, when and why).

Disabling an account stops it at once where identity can: its refresh tokens are revoked and
its issuer sessions ended in the same transaction, and no token is issued to it again. Access
tokens already out lapse within their lifetime (≤ 15 minutes). Every change publishes
`identity.account.created|disabled|enabled` through the outbox, in the change's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import identity_pb2 as events_pb2
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_identity.names import account_name, new_account_id
from linli_identity.tables import Account, RefreshToken, RoleGrant, WebSession
from linli_runtime import fields, paging
from linli_runtime.clock import Clock
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events.outbox import publish_in
from linli_runtime.models import table, typed, typed_all
from linli_runtime.times import to_timestamp

PERSON, SERVICE = "person", "service"
KINDS = (PERSON, SERVICE)
ACTIVE, DISABLED = "active", "disabled"
# Who created an account when no account did.
SIGNUP, BOOTSTRAP, PROVISIONING = "signup", "bootstrap", "provisioning"

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAINLAND_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")

ACCOUNTS = table(Account)
GRANTS = table(RoleGrant)

MakeEvent = Callable[[str, Message, str], EventEnvelope]


def normalize_phone(field: str, value: str) -> str:
    """A phone number as E.164: spaces, dashes and brackets dropped; an 11-digit mainland mobile
    number without a country code is taken as +86."""
    compact = re.sub(r"[\s\-()]", "", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if MAINLAND_MOBILE.match(compact):
        compact = "+86" + compact
    if not E164.match(compact):
        raise InvalidArgument.field(field, "must be a phone number in international form, e.g. +8613800000000 "
                                           "(手机号码格式不正确)")
    return compact


def masked_phone(phone: str | None) -> str:
    """`+8613800001234` → `+86 138****1234` (for pages that confirm which number got a code)."""
    if not phone:
        return ""
    national = phone[3:] if phone.startswith("+86") else phone[1:]
    return f"{phone[:3]} {national[:3]}****{national[-4:]}" if len(national) >= 8 else phone


class Accounts:
    def __init__(self, clock: Clock, make_event: MakeEvent) -> None:
        self.clock = clock
        self.make_event = make_event

    async def _event(self, session: AsyncSession, verb: str, account: Account, actor: str, reason: str) -> None:
        payload = events_pb2.AccountChanged(
            account=account_name(account.id), display_name=account.display_name, kind=account.kind,
            actor=account_name(actor) if actor.startswith("acc_") else "", reason=reason,
            changed_at=to_timestamp(self.clock.now()))
        await publish_in(session, self.make_event(f"identity.account.{verb}", payload, ""))

    async def create(self, session: AsyncSession, *, display_name: str, phone: str | None, kind: str,
                     created_by: str, reason: str = "", account_id: str | None = None) -> Account:
        """A new active account; ALREADY_EXISTS when another account has the phone number. Its
        id is drawn here — except for the demo data's people, whose fixed ids (`account_id`,
        linli_runtime.demo.demo_account_id) the other services' demo records are bound to."""
        name = fields.display_name("account.display_name", display_name)
        if kind not in KINDS:
            raise InvalidArgument.field("account.kind", "must be person or service")
        number = normalize_phone("account.phone", phone) if phone else None
        conn = await session.connection()
        if number is not None and await self.by_phone(session, number) is not None:
            raise AlreadyExists("an account with this phone number exists already; look it up by phone instead",
                                reason="PHONE_TAKEN")
        account = Account(id=account_id or new_account_id(), display_name=name, phone=number, kind=kind, status=ACTIVE,
                          created_at=self.clock.now(), created_by=created_by)
        await conn.execute(ACCOUNTS.insert().values(**account.model_dump()))
        await self._event(session, "created", account, created_by, reason)
        return account

    async def find(self, session: AsyncSession, account_id: str) -> Account | None:
        conn = await session.connection()
        row = (await conn.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.id == account_id))).first()
        return typed(Account, row) if row is not None else None

    async def get(self, session: AsyncSession, account_id: str) -> Account:
        account = await self.find(session, account_id)
        if account is None:
            raise NotFound(f"no account {account_name(account_id)}", reason="ACCOUNT_NOT_FOUND")
        return account

    async def by_phone(self, session: AsyncSession, phone: str) -> Account | None:
        conn = await session.connection()
        row = (await conn.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.phone == phone))).first()
        return typed(Account, row) if row is not None else None

    async def sign_in_account(self, session: AsyncSession, phone: str, *, signup: bool) -> Account | None:
        """The account a confirmed phone number signs in as: its own, or (with `signup`) a new
        person account named after the number's last digits, which the person may rename."""
        account = await self.by_phone(session, phone)
        if account is not None or not signup:
            return account
        return await self.create(session, display_name=f"用户{phone[-4:]}", phone=phone, kind=PERSON,
                                 created_by=SIGNUP, reason="first sign-in with a confirmed phone number")

    async def list(self, session: AsyncSession, *, phone: str = "", scope: str | None = None,
                   page_size: int = 0, page_token: str = "") -> tuple[list[Account], str]:
        """Accounts with this phone number, or holding an active grant at or below `scope`, or
        (neither given) all; in id order."""
        query = sa.select(ACCOUNTS)
        if phone:
            query = query.where(ACCOUNTS.c.phone == phone)
        if scope is not None:
            within = sa.select(GRANTS.c.account_id).where(GRANTS.c.revoked_at.is_(None), scope_within(scope))
            query = query.where(ACCOUNTS.c.id.in_(within))
        conn = await session.connection()
        rows, token = await paging.keyset_page(conn, query, ACCOUNTS.c.id, kind=f"accounts:{phone}:{scope}",
                                               page_token=page_token, size=paging.page_size(page_size))
        return typed_all(Account, rows), token

    async def disable(self, session: AsyncSession, account: Account, *, by: str, reason: str) -> Account:
        if account.status == DISABLED:
            raise FailedPrecondition(f"{account_name(account.id)} is disabled already", reason="ALREADY_DISABLED")
        now = self.clock.now()
        conn = await session.connection()
        await conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.id == account.id).values(
            status=DISABLED, disabled_at=now, disabled_by=by, disable_reason=reason))
        await revoke_refresh_tokens(session, account.id, now, "account disabled")
        await conn.execute(table(WebSession).delete().where(table(WebSession).c.account_id == account.id))
        changed = account.model_copy(update={"status": DISABLED, "disabled_at": now, "disabled_by": by,
                                             "disable_reason": reason})
        await self._event(session, "disabled", changed, by, reason)
        return changed

    async def enable(self, session: AsyncSession, account: Account, *, by: str, reason: str) -> Account:
        if account.status == ACTIVE:
            raise FailedPrecondition(f"{account_name(account.id)} is active already", reason="ALREADY_ACTIVE")
        conn = await session.connection()
        await conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.id == account.id).values(
            status=ACTIVE, disabled_at=None, disabled_by=None, disable_reason=None))
        changed = account.model_copy(update={"status": ACTIVE, "disabled_at": None, "disabled_by": None,
                                             "disable_reason": None})
        await self._event(session, "enabled", changed, by, reason)
        return changed


def scope_within(scope: str) -> sa.ColumnElement[bool]:
    """Grants whose scope lies at or below `scope` (segment-wise)."""
    if scope == "":
        return sa.true()
    return sa.or_(GRANTS.c.scope == scope, GRANTS.c.scope.startswith(scope + "/", autoescape=True))


async def revoke_refresh_tokens(session: AsyncSession, account_id: str, now: datetime, reason: str) -> int:
    """Revoke every live refresh token of an account (disabling it)."""
    tokens = table(RefreshToken)
    conn = await session.connection()
    result = await conn.execute(tokens.update().where(tokens.c.account_id == account_id,
                                                      tokens.c.revoked_at.is_(None))
                                .values(revoked_at=now, revoke_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
