"""Year-end "Red Maple Guardian" awards: once a year has ended, a community closes it and its
best volunteers by points earned (rankings.py) are given gold, silver and bronze.

The rule says how many ranks each tier takes — as counts (default: rank 1 gold, the next 2
silver, the next 3 bronze) or as shares of the volunteers ranked, rounded up. Ties share a rank,
and a tie across a tier's boundary goes to the better tier. A close is written once: the close
row first (a concurrent close of the same year fails on its key and retries as a replay), then
the awards and one `points.award.granted` event each. Closing again with the same rule answers
the awards as they stand; another rule is refused, since the awards have been announced.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli_points import names
from linli_points.rankings import Period, Ranked, rankings
from linli_points.records import exists, find
from linli_points.tables import Award, YearClose
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import decode_int_token, encode_token
from linli_runtime.times import year_bounds
from linli_runtime.transactions import run_in_transaction

AWARDS, YEAR_CLOSES = table(Award), table(YearClose)
FIRST_YEAR, LAST_YEAR = 2000, 2200
MAX_TIER_COUNT = 1000


# Tiers as linli.events.v1.AwardTier numbers: what the award rows store and the events carry.
Tier: TypeAlias = events.AwardTier.ValueType
TIERS: tuple[Tier, ...] = (events.AWARD_TIER_GOLD, events.AWARD_TIER_SILVER, events.AWARD_TIER_BRONZE)
TIER_NAMES: dict[int, str] = {events.AWARD_TIER_GOLD: "gold", events.AWARD_TIER_SILVER: "silver",
                              events.AWARD_TIER_BRONZE: "bronze"}


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


DEFAULT_COUNTS = (1, 2, 3)  # ranks given gold, silver, bronze


def rule_of(counts: tuple[int, int, int], percents: tuple[int, int, int]) -> Rule:
    """The rule a close asks for: shares when any is given, else counts (the default when none)."""
    if any(percents):
        return Rule("percent", percents)
    return Rule("count", counts if any(counts) else DEFAULT_COUNTS)


def assign_tiers(ranked: list[Ranked], rule: tuple[int, int, int]) -> list[tuple[Ranked, Tier]]:
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


def awards_csv(awards: list[Award]) -> bytes:
    """The awards as a CSV file Excel opens as UTF-8 (it needs the byte-order mark)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "tier", "volunteer_id", "display_name", "points_earned"])
    for award in awards:
        writer.writerow([award.rank, TIER_NAMES[award.tier], award.volunteer_id, award.display_name,
                         award.points_earned])
    return ("\ufeff" + out.getvalue()).encode()


def export_filename(path: str, year: int) -> str:
    return f"{path.rsplit('/', 1)[-1]}-awards-{year}.csv"


class Awards:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event

    async def close_year(self, path: str, year: int, rule: Rule) -> tuple[list[Award], bool]:
        """Close `year` under `rule` (once it has ended): its awards, and whether this call
        closed it."""
        period = year_bounds(year)
        if self.clock.now() < period[1]:
            raise FailedPrecondition(f"{year} has not ended yet", reason="YEAR_NOT_OVER")

        async def work(conn: AsyncConnection) -> tuple[list[Award], bool]:
            closed = await find(conn, YearClose, community_path=path, year=year)
            if closed is None:
                await self._close(conn, path, year, period, rule)
            elif Rule(closed.rule_kind, (closed.gold_count, closed.silver_count, closed.bronze_count)) != rule:
                raise AlreadyExists(
                    f"{year} was closed with another rule ({closed.rule_kind}: gold {closed.gold_count}, silver "
                    f"{closed.silver_count}, bronze {closed.bronze_count}); its awards stand",
                    reason="YEAR_CLOSED_WITH_OTHER_RULE")
            return await _awards(conn, path, year), closed is None

        return await run_in_transaction(self.db, work)

    async def _close(self, conn: AsyncConnection, path: str, year: int, period: Period, rule: Rule) -> None:
        # The close row first: a concurrent close of the same year fails on its key and retries
        # as a replay, so awards and events are written once.
        await conn.execute(YEAR_CLOSES.insert().values(community_path=path, year=year, gold_count=rule.numbers[0],
                                                       silver_count=rule.numbers[1], bronze_count=rule.numbers[2],
                                                       rule_kind=rule.kind, closed_at=self.clock.now()))
        ranked = await rankings(conn, path, period)
        granted = assign_tiers(ranked, rule.counts(len(ranked)))
        if granted:
            await conn.execute(AWARDS.insert(), [
                {"community_path": path, "year": year, "volunteer_id": r.volunteer_id, "display_name": r.display_name,
                 "tier": tier, "rank": r.rank, "points_earned": r.points_earned} for r, tier in granted])
        for r, tier in granted:
            await publish_in(conn, self.make_event("points.award.granted", events.YearEndAwardGranted(
                award=names.award_name(path, year, r.volunteer_id), community_path=path, year=year,
                volunteer_id=r.volunteer_id, volunteer_name=r.display_name, tier=tier, rank=r.rank,
                points_earned=r.points_earned), path))

    async def list_page(self, path: str, year: int, *, page_token: str, size: int) -> tuple[list[Award], str]:
        """The year's awards by rank, then volunteer id."""
        offset = decode_int_token("awards", page_token)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(_by_rank(path, year).offset(offset).limit(size + 1))).all()
        more = len(rows) > size
        return loaded_all(Award, rows[:size]), encode_token("awards", offset + size) if more else ""

    async def export(self, path: str, year: int) -> list[Award]:
        """Every award of a closed year, by rank (FAILED_PRECONDITION before the close)."""
        async with self.db.engine.connect() as conn:
            if not await exists(conn, YearClose, community_path=path, year=year):
                raise FailedPrecondition(f"{year} is not closed yet; close it first", reason="YEAR_NOT_CLOSED")
            return await _awards(conn, path, year)


def _by_rank(path: str, year: int) -> sa.Select[Any]:
    return (sa.select(AWARDS).where(AWARDS.c.community_path == path, AWARDS.c.year == year)
            .order_by(AWARDS.c.rank, AWARDS.c.volunteer_id))


async def _awards(conn: AsyncConnection, path: str, year: int) -> list[Award]:
    return loaded_all(Award, (await conn.execute(_by_rank(path, year))).all())
