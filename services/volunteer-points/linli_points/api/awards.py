"""linli.points.v1.AwardService: leaderboards from points earned, year-end close and awards."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.points.v1 import awards_pb2 as pb
from linli.points.v1 import awards_pb2_grpc
from linli_points.api.common import (
    community,
    decode_token,
    encode_token,
    ident,
    page_size,
    require_reader,
    require_writer,
)
from linli_points.ledger.accounts import ISSUANCE, VOLUNTEER_PREFIX
from linli_points.ledger.store import POSTED_KINDS, EventFactory
from linli_points.ledger.tables import transfers
from linli_points.periods import local, period_bounds, year_bounds
from linli_points.schema import awards, memberships, volunteers, year_closes
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from linli_runtime.events import publish_in
from linli_runtime.transactions import run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["AwardService"].full_name
DEFAULT_RULE = (1, 2, 3)  # ranks given gold, silver, bronze
TIERS: tuple[events.AwardTier.ValueType, ...] = (
    events.AWARD_TIER_GOLD, events.AWARD_TIER_SILVER, events.AWARD_TIER_BRONZE)
TIER_NAMES = {events.AWARD_TIER_GOLD: "gold", events.AWARD_TIER_SILVER: "silver", events.AWARD_TIER_BRONZE: "bronze"}


@dataclass(frozen=True)
class Ranked:
    rank: int
    volunteer_id: str
    display_name: str
    points_earned: int


async def rankings(conn: AsyncConnection, path: str, bounds: tuple[datetime, datetime],
                   team_id: str = "") -> list[Ranked]:
    """Points earned in [start, end) per volunteer — credits from issuance net of those returned
    to it — ranked with ties sharing a rank (1, 2, 2, 4), ties listed by volunteer id."""
    is_volunteer_credit = sa.and_(transfers.c.debit_account == ISSUANCE,
                                  transfers.c.credit_account.startswith(VOLUNTEER_PREFIX))
    is_volunteer_return = sa.and_(transfers.c.credit_account == ISSUANCE,
                                  transfers.c.debit_account.startswith(VOLUNTEER_PREFIX))
    account = sa.case((is_volunteer_credit, transfers.c.credit_account), else_=transfers.c.debit_account)
    signed = sa.case((is_volunteer_credit, transfers.c.amount), else_=-transfers.c.amount)
    query = (
        sa.select(account.label("account"), sa.func.sum(signed).label("earned"))
        .where(transfers.c.community_path == path, transfers.c.kind.in_([int(k) for k in POSTED_KINDS]),
               sa.or_(is_volunteer_credit, is_volunteer_return),
               transfers.c.created_at >= bounds[0], transfers.c.created_at < bounds[1])
        .group_by(account)
    )
    earned = {row.account[len(VOLUNTEER_PREFIX):]: int(row.earned) for row in await conn.execute(query)}
    if team_id:
        first_day, last_day = local(bounds[0]).date(), local(bounds[1]).date()
        members = set((await conn.execute(sa.select(memberships.c.volunteer_id).where(
            memberships.c.community_path == path, memberships.c.team_id == team_id,
            memberships.c.join_date < last_day,
            sa.or_(memberships.c.leave_date.is_(None), memberships.c.leave_date >= first_day)))).scalars())
        earned = {v: p for v, p in earned.items() if v in members}
    names = dict((await conn.execute(sa.select(volunteers.c.volunteer_id, volunteers.c.display_name).where(
        volunteers.c.community_path == path, volunteers.c.volunteer_id.in_(list(earned))))).all()) if earned else {}
    ordered = sorted(((p, v) for v, p in earned.items() if p > 0), key=lambda pv: (-pv[0], pv[1]))
    result: list[Ranked] = []
    for position, (points, volunteer_id) in enumerate(ordered, start=1):
        rank = result[-1].rank if result and result[-1].points_earned == points else position
        result.append(Ranked(rank, volunteer_id, names.get(volunteer_id, ""), points))
    return result


@dataclass(frozen=True)
class Rule:
    """How many ranks each tier takes: given as counts, or as percentages of the ranked."""

    kind: str  # "count" | "percent"
    numbers: tuple[int, int, int]

    def counts(self, ranked: int) -> tuple[int, int, int]:
        if self.kind == "count":
            return self.numbers
        gold, silver, bronze = (math.ceil(p * ranked / 100) for p in self.numbers)
        return gold, silver, bronze


def assign_tiers(ranked: list[Ranked], rule: tuple[int, int, int]) -> list[tuple[Ranked, events.AwardTier.ValueType]]:
    """Gold for ranks ≤ gold, silver for ranks ≤ gold + silver, bronze ≤ gold + silver + bronze.
    Shared ranks carry ties across a boundary into the better tier."""
    limits = (rule[0], rule[0] + rule[1], rule[0] + rule[1] + rule[2])
    granted = []
    for entry in ranked:
        for tier, limit in zip(TIERS, limits, strict=True):
            if entry.rank <= limit:
                granted.append((entry, tier))
                break
    return granted


def award_pb(row: Any) -> pb.Award:
    return pb.Award(name=f"{row.community_path}/awards/{row.year}/{row.volunteer_id}",
                    community_path=row.community_path, year=row.year, volunteer_id=row.volunteer_id,
                    display_name=row.display_name, tier=cast(events.AwardTier.ValueType, row.tier), rank=row.rank,
                    points_earned=row.points_earned)


def _year(value: int) -> int:
    if not 2000 <= value <= 2200:
        raise InvalidArgument.field("year", "must be a year between 2000 and 2200")
    return value


class AwardServicer(awards_pb2_grpc.AwardServiceServicer):
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event

    async def ListRankings(
        self, request: pb.ListRankingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRankingsResponse:
        path = community(request.community_path)
        require_reader()
        try:
            bounds = period_bounds(request.period)
        except ValueError:
            raise InvalidArgument.field("period", "must be a year (YYYY) or a month (YYYY-MM)") from None
        team_id = ident("team_id", request.team_id) if request.team_id else ""
        size = page_size(request.page_size)
        offset = decode_token("rankings", request.page_token)
        async with self.db.engine.connect() as conn:
            board = await rankings(conn, path, bounds, team_id)
        page = board[offset:offset + size]
        return pb.ListRankingsResponse(
            rankings=[pb.Ranking(rank=r.rank, volunteer_id=r.volunteer_id, display_name=r.display_name,
                                 points_earned=r.points_earned) for r in page],
            next_page_token=encode_token("rankings", offset + size) if offset + size < len(board) else "",
        )

    async def CloseYear(self, request: pb.CloseYearRequest, context: grpc.aio.ServicerContext) -> pb.CloseYearResponse:
        path = community(request.community_path)
        require_writer()
        year = _year(request.year)
        counts = (request.gold_count, request.silver_count, request.bronze_count)
        percents = (request.gold_percent, request.silver_percent, request.bronze_percent)
        for field, value in zip(("gold_count", "silver_count", "bronze_count"), counts, strict=True):
            if not 0 <= value <= 1000:
                raise InvalidArgument.field(field, "must be between 0 (the default) and 1000")
        for field, value in zip(("gold_percent", "silver_percent", "bronze_percent"), percents, strict=True):
            if not 0 <= value <= 100:
                raise InvalidArgument.field(field, "must be between 0 and 100")
        if any(counts) and any(percents):
            raise InvalidArgument.field("gold_percent", "give ranks per tier or shares per tier, not both")
        if sum(percents) > 100:
            raise InvalidArgument.field("bronze_percent", "the shares must add up to at most 100")
        rule = Rule("percent", percents) if any(percents) else Rule("count", counts if any(counts) else DEFAULT_RULE)
        bounds = year_bounds(year)
        if self.clock.now() < bounds[1]:
            raise FailedPrecondition(f"{year} has not ended yet", reason="YEAR_NOT_OVER")

        async def work(conn: AsyncConnection) -> tuple[Any, bool]:
            closed = (await conn.execute(sa.select(year_closes).where(
                year_closes.c.community_path == path, year_closes.c.year == year))).first()
            if closed is None:
                await self._close(conn, path, year, bounds, rule)
            elif Rule(closed.rule_kind, (closed.gold_count, closed.silver_count, closed.bronze_count)) != rule:
                raise AlreadyExists(
                    f"{year} was closed with another rule ({closed.rule_kind}: gold {closed.gold_count}, silver "
                    f"{closed.silver_count}, bronze {closed.bronze_count}); its awards stand",
                    reason="YEAR_CLOSED_WITH_OTHER_RULE")
            rows = (await conn.execute(sa.select(awards).where(awards.c.community_path == path, awards.c.year == year)
                                       .order_by(awards.c.rank, awards.c.volunteer_id))).all()
            return rows, closed is None

        rows, newly = await run_in_transaction(self.db, work)
        return pb.CloseYearResponse(awards=[award_pb(r) for r in rows], newly_closed=newly)

    async def _close(self, conn: AsyncConnection, path: str, year: int, bounds: tuple[datetime, datetime],
                     rule: Rule) -> None:
        # The close row first: a concurrent close of the same year fails on its key and retries
        # as a replay, so awards and events are written once.
        await conn.execute(year_closes.insert().values(community_path=path, year=year, gold_count=rule.numbers[0],
                                                       silver_count=rule.numbers[1], bronze_count=rule.numbers[2],
                                                       rule_kind=rule.kind, closed_at=self.clock.now()))
        ranked = await rankings(conn, path, bounds)
        granted = assign_tiers(ranked, rule.counts(len(ranked)))
        if granted:
            await conn.execute(awards.insert(), [
                {"community_path": path, "year": year, "volunteer_id": r.volunteer_id, "display_name": r.display_name,
                 "tier": tier, "rank": r.rank, "points_earned": r.points_earned} for r, tier in granted])
        for r, tier in granted:
            await publish_in(conn, self.make_event("points.award.granted", events.YearEndAwardGranted(
                award=f"{path}/awards/{year}/{r.volunteer_id}", community_path=path, year=year,
                volunteer_id=r.volunteer_id, volunteer_name=r.display_name, tier=tier, rank=r.rank,
                points_earned=r.points_earned), path))

    async def ListAwards(
        self, request: pb.ListAwardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAwardsResponse:
        path = community(request.community_path)
        require_reader()
        year = _year(request.year)
        size = page_size(request.page_size)
        offset = decode_token("awards", request.page_token)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(awards).where(awards.c.community_path == path, awards.c.year == year)
                                       .order_by(awards.c.rank, awards.c.volunteer_id)
                                       .offset(offset).limit(size + 1))).all()
        return pb.ListAwardsResponse(
            awards=[award_pb(r) for r in rows[:size]],
            next_page_token=encode_token("awards", offset + size) if len(rows) > size else "",
        )

    async def ExportAwards(
        self, request: pb.ExportAwardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportAwardsResponse:
        path = community(request.community_path)
        require_reader()
        year = _year(request.year)
        async with self.db.engine.connect() as conn:
            closed = (await conn.execute(sa.select(year_closes.c.year).where(
                year_closes.c.community_path == path, year_closes.c.year == year))).first()
            if closed is None:
                raise FailedPrecondition(f"{year} is not closed yet; close it first", reason="YEAR_NOT_CLOSED")
            rows = (await conn.execute(sa.select(awards).where(awards.c.community_path == path, awards.c.year == year)
                                       .order_by(awards.c.rank, awards.c.volunteer_id))).all()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["rank", "tier", "volunteer_id", "display_name", "points_earned"])
        for row in rows:
            writer.writerow([row.rank, TIER_NAMES[row.tier], row.volunteer_id, row.display_name, row.points_earned])
        return pb.ExportAwardsResponse(filename=f"{path.rsplit('/', 1)[-1]}-awards-{year}.csv",
                                       csv_content=("\ufeff" + out.getvalue()).encode())
