"""Leaderboards: who earned the most points in a year or a month, in a community or one of its
teams. Points earned are what the ledger credited from system/issuance net of what went back
to it (ledger.queries); spending points does not lower a rank. Ties share a rank (1, 2, 2, 4)
and are listed by volunteer id. The year-end awards (awards.py) are given from the same ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger import queries
from linli_points.people import team_members_during, volunteer_names
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument
from linli_runtime.paging import decode_int_token, encode_token
from linli_runtime.times import local_day, month_bounds, parse_month, year_bounds

FIRST_YEAR, LAST_YEAR = 2000, 2200

Period = tuple[datetime, datetime]  # [start, end) in UTC


@dataclass(frozen=True)
class Ranked:
    rank: int
    volunteer_id: str
    display_name: str
    points_earned: int


def period_bounds(field: str, period: str) -> Period:
    """A year (`YYYY`) or a month (`YYYY-MM`) of 2000-2200 in Asia/Shanghai, as UTC bounds."""
    if len(period) == 4 and period.isdigit() and period.isascii() and FIRST_YEAR <= int(period) <= LAST_YEAR:
        return year_bounds(int(period))
    if len(period) == 7:
        try:
            return month_bounds(parse_month(field, period))
        except InvalidArgument:
            pass
    raise InvalidArgument.field(field, "must be a year (YYYY) or a month (YYYY-MM)")


def rank(earned: dict[str, int], names: dict[str, str]) -> list[Ranked]:
    """Volunteers with points earned above zero, most first; ties share a rank (1, 2, 2, 4) and
    are listed by volunteer id."""
    ordered = sorted(((points, volunteer_id) for volunteer_id, points in earned.items() if points > 0),
                     key=lambda pv: (-pv[0], pv[1]))
    result: list[Ranked] = []
    for position, (points, volunteer_id) in enumerate(ordered, start=1):
        shared = result[-1].rank if result and result[-1].points_earned == points else position
        result.append(Ranked(shared, volunteer_id, names.get(volunteer_id, ""), points))
    return result


async def rankings(conn: AsyncConnection, path: str, period: Period, team_id: str = "") -> list[Ranked]:
    """The ranks of `path`'s volunteers by points earned in the period; with `team_id`, only
    those who were members of the team at some time in it."""
    earned = await queries.earned_per_volunteer(conn, path, period)
    if team_id:
        members = await team_members_during(conn, path, team_id, local_day(period[0]), local_day(period[1]))
        earned = {v: p for v, p in earned.items() if v in members}
    return rank(earned, await volunteer_names(conn, path, earned))


class Rankings:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, path: str, period: Period, *, team_id: str = "", page_token: str,
                   size: int) -> tuple[list[Ranked], str]:
        """One page of the leaderboard and the token of the next. The board is computed whole
        for every page (a rank depends on everyone's points); the token is the offset."""
        offset = decode_int_token("rankings", page_token)
        async with self.db.engine.connect() as conn:
            board = await rankings(conn, path, period, team_id)
        more = offset + size < len(board)
        return board[offset:offset + size], encode_token("rankings", offset + size) if more else ""
