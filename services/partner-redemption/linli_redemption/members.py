"""Member cards (a per-volunteer secret) and member sessions (a member code resolved at a till).

A volunteer shows a member code (see `member_codes`); the terminal resolves it into a member
session of its own, and every later POS call about that member names the session. A session
belongs to the terminal that opened it and lasts `member_codes.SESSION_TTL`. Resolving is
guarded against guessing (`pos_guard`, `pos_limits`): a locked-out or too-fast terminal and an
over-tried card are refused before the code is looked at, and every wrong code counts against
the terminal that sent it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption import member_codes
from linli_redemption.points import Points, PointsRefused
from linli_redemption.pos_guard import PosGuard, member_key
from linli_redemption.tables import MEMBER_CARDS, MEMBER_SESSIONS, MemberCard
from linli_redemption.tables import MemberSession as SessionRow
from linli_redemption.terminals import TerminalCaller
from linli_runtime import fields, times
from linli_runtime.auth import normalize_path
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import loaded
from linli_runtime.transactions import run_in_transaction

# Built once: every POS call reads a session (a reused statement skips SQLAlchemy's per-call
# construction and cache-key walk).
SESSION_BY_ID = sa.select(MEMBER_SESSIONS).where(MEMBER_SESSIONS.c.id == sa.bindparam("sid"))


@dataclass(frozen=True)
class MemberSession:
    session_id: str
    community_path: str
    volunteer_id: str
    masked_member: str
    expire_time: datetime


def mask_name(name: str) -> str:
    """`王秀英` → `王*英`, `李四` → `李*`; the POS sees enough to greet, not to identify."""
    name = name.strip()
    if len(name) <= 1:
        return name + "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def check_volunteer_id(value: str) -> str:
    """Stricter than `fields.ident` (no ':'): a card is keyed by it, and a member code must never
    be confusable with another volunteer's."""
    value = fields.text("volunteer_id", value, 64, required=True)
    if not all(c.isalnum() or c in "-_." for c in value) or not value.isascii():
        raise InvalidArgument.field("volunteer_id", "must use only ASCII letters, digits, '-', '_' and '.'")
    return value


def check_session_id(session_id: str) -> str:
    if not session_id or len(session_id) > 64:
        raise InvalidArgument.field("member_session", "is required (from ResolveMemberCode)")
    return session_id


def session_of(row: SessionRow) -> MemberSession:
    return MemberSession(row.id, row.community_path, row.volunteer_id, row.masked_member,
                         times.as_utc(row.expire_time))


def live_session(who: TerminalCaller, row: SessionRow | None, now: datetime) -> MemberSession:
    """`row` (the session the terminal named) as a live session of this terminal: unknown to it
    is INVALID_ARGUMENT, past its time MEMBER_SESSION_EXPIRED."""
    if row is None or row.terminal_id != who.terminal_id:
        raise InvalidArgument.field("member_session", "is not a session this terminal opened",
                                    reason="MEMBER_SESSION_UNKNOWN")
    found = session_of(row)
    if now >= found.expire_time:
        raise FailedPrecondition("the member session has expired; resolve a new member code",
                                 reason="MEMBER_SESSION_EXPIRED")
    return found


def in_community(card_path: str, terminal_path: str) -> bool:
    """A member can redeem in their community's programme, at a till of it or of a place above."""
    return card_path == terminal_path or card_path.startswith(terminal_path + "/")


class Members:
    def __init__(self, db: Database, clock: Clock, points: Points, guard: PosGuard) -> None:
        self.db, self.clock, self.points, self.guard = db, clock, points, guard

    async def card(self, community_path: str, volunteer_id: str, *, issue: bool) -> MemberCard:
        """The volunteer's card; issued on first use when `issue` (the name comes from
        volunteer-points, so an unknown volunteer is NOT_FOUND)."""
        path = normalize_path(community_path)
        if not path:
            raise InvalidArgument.field("community_path", "is required")
        volunteer_id = check_volunteer_id(volunteer_id)
        query = sa.select(MEMBER_CARDS).where(MEMBER_CARDS.c.community_path == path,
                                              MEMBER_CARDS.c.volunteer_id == volunteer_id)
        async with self.db.reading() as conn:
            row = (await conn.execute(query)).first()
        if row is not None:
            return loaded(MemberCard, row)
        if not issue:
            raise NotFound(f"volunteer {volunteer_id} has no member card yet", reason="MEMBER_CARD_NOT_FOUND")
        try:
            name = await self.points.volunteer_name(path, volunteer_id)
        except PointsRefused as refusal:
            raise NotFound(f"volunteer-points knows no volunteer {volunteer_id} in {path}",
                           reason="VOLUNTEER_NOT_FOUND") from refusal

        async def create(conn: AsyncConnection) -> MemberCard:
            existing = (await conn.execute(query)).first()
            if existing is not None:
                return loaded(MemberCard, existing)
            number, secret = member_codes.new_card()
            await conn.execute(MEMBER_CARDS.insert().values(
                card_number=number, community_path=path, volunteer_id=volunteer_id, display_name=name,
                secret=secret, create_time=self.clock.now()))
            return loaded(MemberCard, (await conn.execute(query)).one())

        return await run_in_transaction(self.db, create)

    async def current_code(self, community_path: str, volunteer_id: str) -> tuple[str, datetime]:
        """The member code to show now, and when it stops being accepted."""
        card = await self.card(community_path, volunteer_id, issue=True)
        return member_codes.member_code(card.card_number, card.secret, self.clock.now())

    async def resolve(self, who: TerminalCaller, code: str) -> MemberSession:
        """Open a member session for `who` from a member code (see member_codes)."""
        number, otp = member_codes.split_code(code)
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(MEMBER_CARDS).where(MEMBER_CARDS.c.card_number == number))).first()
        card = loaded(MemberCard, row) if row is not None else None
        counted = await self.guard.before_code(
            who.terminal_id, member_key(card.community_path, card.volunteer_id) if card else None)
        if card is None or counted is None:
            raise member_codes.wrong_code(await self.guard.wrong_code(who.terminal_id))
        now = self.clock.now()
        try:
            step = member_codes.verify(card.secret, otp, now)
        except FailedPrecondition as refused:  # wrong or expired: counted against the terminal
            refused.metadata["wrong_codes_left"] = str(await self.guard.wrong_code(who.terminal_id))
            raise
        await self.guard.right_code(counted)
        if not in_community(card.community_path, who.community_path):
            raise FailedPrecondition("this member belongs to another community's programme",
                                     reason="MEMBER_OUTSIDE_COMMUNITY")

        async def open_session(conn: AsyncConnection) -> MemberSession:
            used = (await conn.execute(sa.select(MEMBER_SESSIONS).where(
                MEMBER_SESSIONS.c.card_number == number, MEMBER_SESSIONS.c.step == step))).first()
            if used is not None:
                if used.terminal_id != who.terminal_id:
                    raise FailedPrecondition("this member code has been used already; ask the member to show "
                                             "a new one", reason="MEMBER_CODE_REPLAYED")
                return session_of(loaded(SessionRow, used))  # the same terminal asking again: its reply was lost
            opened = MemberSession(f"ms-{uuid.uuid4().hex}", card.community_path, card.volunteer_id,
                                   mask_name(card.display_name), now + member_codes.SESSION_TTL)
            await conn.execute(MEMBER_SESSIONS.insert().values(
                id=opened.session_id, card_number=number, step=step, terminal_id=who.terminal_id,
                merchant_id=who.merchant_id, community_path=opened.community_path,
                volunteer_id=opened.volunteer_id, masked_member=opened.masked_member,
                expire_time=opened.expire_time))
            return opened

        return await run_in_transaction(self.db, open_session)

    async def session(self, who: TerminalCaller, session_id: str) -> MemberSession:
        """A live session of this terminal (MEMBER_SESSION_EXPIRED once past its time)."""
        check_session_id(session_id)
        async with self.db.reading() as conn:
            row = (await conn.execute(SESSION_BY_ID, {"sid": session_id})).first()
        return live_session(who, None if row is None else loaded(SessionRow, row), self.clock.now())
