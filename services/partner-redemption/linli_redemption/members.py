"""Member cards (per-volunteer secrets) and member sessions (a resolved member code)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption import member_codes
from linli_redemption.common import as_utc, check_text, mask_name, reading
from linli_redemption.points_client import LedgerRefusal, PointsClient
from linli_redemption.tables import member_card, member_session
from linli_runtime.auth import normalize_path
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.transactions import run_in_transaction

# Built once: every POS call reads a session (a reused statement skips SQLAlchemy's per-call
# construction and cache-key walk).
_SESSION_BY_ID = member_session.select().where(member_session.c.id == sa.bindparam("sid"))


@dataclass(frozen=True)
class TerminalCaller:
    terminal_id: str
    merchant_id: str
    community_path: str


@dataclass(frozen=True)
class MemberSession:
    session_id: str
    community_path: str
    volunteer_id: str
    masked_member: str
    expire_time: datetime


def check_volunteer_id(value: str) -> str:
    value = check_text(value, "volunteer_id", 64, required=True)
    if not all(c.isalnum() or c in "-_." for c in value) or not value.isascii():
        raise InvalidArgument.field("volunteer_id", "must use only ASCII letters, digits, '-', '_' and '.'")
    return value


class Members:
    def __init__(self, db: Database, clock: Clock, points: PointsClient) -> None:
        self.db, self.clock, self.points = db, clock, points

    async def card(self, community_path: str, volunteer_id: str, *, issue: bool) -> Row[tuple[object, ...]]:
        """The volunteer's card; issued on first use when `issue` (the name comes from
        volunteer-points, so an unknown volunteer is NOT_FOUND)."""
        path = normalize_path(community_path)
        if not path:
            raise InvalidArgument.field("community_path", "is required")
        volunteer_id = check_volunteer_id(volunteer_id)
        query = member_card.select().where(member_card.c.community_path == path,
                                           member_card.c.volunteer_id == volunteer_id)
        async with reading(self.db) as session:
            row = (await session.execute(query)).first()
        if row is not None:
            return row
        if not issue:
            raise NotFound(f"volunteer {volunteer_id} has no member card yet", reason="MEMBER_CARD_NOT_FOUND")
        try:
            name = await self.points.volunteer_name(path, volunteer_id)
        except LedgerRefusal as refusal:
            raise NotFound(f"volunteer-points knows no volunteer {volunteer_id} in {path}",
                           reason="VOLUNTEER_NOT_FOUND") from refusal

        async def create(conn: AsyncConnection) -> Row[tuple[object, ...]]:
            existing = (await conn.execute(query)).first()
            if existing is not None:
                return existing
            number, secret = member_codes.new_card()
            await conn.execute(member_card.insert().values(
                card_number=number, community_path=path, volunteer_id=volunteer_id, display_name=name,
                secret=secret, create_time=self.clock.now()))
            return (await conn.execute(query)).one()

        return await run_in_transaction(self.db, create)

    async def current_code(self, community_path: str, volunteer_id: str) -> tuple[str, datetime]:
        card = await self.card(community_path, volunteer_id, issue=True)
        return member_codes.member_code(str(card.card_number), str(card.secret), self.clock.now())

    async def resolve(self, who: TerminalCaller, code: str) -> MemberSession:
        """Open a member session for `who` from a member code (see member_codes)."""
        number, otp = member_codes.split_code(code)
        async with reading(self.db) as session:
            card = (await session.execute(member_card.select().where(member_card.c.card_number == number))).first()
        if card is None:
            raise member_codes.wrong_code()
        now = self.clock.now()
        step = member_codes.verify(str(card.secret), otp, now)
        if card.community_path != who.community_path and not str(card.community_path).startswith(
                who.community_path + "/"):
            raise FailedPrecondition("this member belongs to another community's programme",
                                     reason="MEMBER_OUTSIDE_COMMUNITY")

        async def open_session(conn: AsyncConnection) -> MemberSession:
            used = (await conn.execute(member_session.select().where(
                member_session.c.card_number == number, member_session.c.step == step))).first()
            if used is not None:
                if used.terminal_id != who.terminal_id:
                    raise FailedPrecondition("this member code has been used already; ask the member to show "
                                             "a new one", reason="MEMBER_CODE_REPLAYED")
                return _session(used)  # the same terminal asking again: its reply was lost
            session_id = f"ms-{uuid.uuid4().hex}"
            values = dict(id=session_id, card_number=number, step=step, terminal_id=who.terminal_id,
                          merchant_id=who.merchant_id, community_path=card.community_path,
                          volunteer_id=card.volunteer_id, masked_member=mask_name(str(card.display_name)),
                          expire_time=now + member_codes.SESSION_TTL)
            await conn.execute(member_session.insert().values(**values))
            return MemberSession(session_id, str(card.community_path), str(card.volunteer_id),
                                 str(values["masked_member"]), now + member_codes.SESSION_TTL)

        return await run_in_transaction(self.db, open_session)

    async def session(self, who: TerminalCaller, session_id: str, conn: AsyncConnection | None = None
                      ) -> MemberSession:
        """A live session of this terminal (MEMBER_SESSION_EXPIRED once past its time); read on
        `conn` when the caller has a connection open already."""
        if not session_id or len(session_id) > 64:
            raise InvalidArgument.field("member_session", "is required (from ResolveMemberCode)")
        if conn is not None:
            row = (await conn.execute(_SESSION_BY_ID, {"sid": session_id})).first()
        else:
            async with reading(self.db) as session:
                row = (await session.execute(_SESSION_BY_ID, {"sid": session_id})).first()
        if row is None or row.terminal_id != who.terminal_id:
            raise InvalidArgument.field("member_session", "is not a session this terminal opened",
                                        reason="MEMBER_SESSION_UNKNOWN")
        found = _session(row)
        if self.clock.now() >= found.expire_time:
            raise FailedPrecondition("the member session has expired; resolve a new member code",
                                     reason="MEMBER_SESSION_EXPIRED")
        return found


    async def volunteer_of(self, who: TerminalCaller, session_id: str) -> str | None:
        """Whose session this terminal opened, expired or not (None if it opened no such
        session): a retried redeem may carry a newer session of the same volunteer."""
        async with reading(self.db) as conn:
            row = (await conn.execute(_SESSION_BY_ID, {"sid": session_id})).first()
        return str(row.volunteer_id) if row is not None and row.terminal_id == who.terminal_id else None


def _session(row: Row[tuple[object, ...]]) -> MemberSession:
    return MemberSession(str(row.id), str(row.community_path), str(row.volunteer_id), str(row.masked_member),
                         as_utc(row.expire_time))  # type: ignore[arg-type]
