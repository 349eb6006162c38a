"""Each community of a place summed up for the operators' city dashboard, many communities in a
few statements instead of a dozen calls each: how many volunteers, how many of them earned
points in the year and how many points, the first three of the year's board, and the latest
year-end awards (the year's, else the year before's) counted by tier."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from linli_points.awards import AWARDS
from linli_points.ledger import queries
from linli_points.people import VOLUNTEERS
from linli_points.rankings import Ranked
from linli_runtime.db import Database

TOP = 3  # the board's first places the dashboard shows


@dataclass
class CommunitySummary:
    community_path: str
    volunteer_count: int = 0
    earner_count: int = 0  # volunteers who earned points above zero in the year
    points_earned: int = 0
    top: list[Ranked] = field(default_factory=list)
    award_year: int = 0  # the year of the awards counted (0: none in the year or the one before)
    awards_by_tier: dict[int, int] = field(default_factory=dict)  # linli.events.v1.AwardTier → awards


class CommunitySummaries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def summarize(self, paths: list[str], year: int) -> list[CommunitySummary]:
        """One summary per path, in the order given."""
        out = {p: CommunitySummary(p) for p in paths}
        async with self.db.reading() as conn:
            for path, count in await conn.execute(
                    sa.select(VOLUNTEERS.c.community_path, sa.func.count()).where(
                        VOLUNTEERS.c.community_path.in_(paths)).group_by(VOLUNTEERS.c.community_path)):
                out[path].volunteer_count = int(count)
            earners = await queries.earners_of(conn, paths, year, top=TOP)
            wanted = {(p, e.volunteer_id) for p, s in earners.items() for e in s.top}
            names: dict[tuple[str, str], str] = {}
            if wanted:
                for path, volunteer_id, name in await conn.execute(
                        sa.select(VOLUNTEERS.c.community_path, VOLUNTEERS.c.volunteer_id, VOLUNTEERS.c.display_name)
                        # By (community, id) pairs: ids repeat across communities (v-001 in each).
                        .where(sa.tuple_(VOLUNTEERS.c.community_path, VOLUNTEERS.c.volunteer_id).in_(sorted(wanted)))):
                    names[(path, volunteer_id)] = name
            tiers: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
            for path, award_year, tier, count in await conn.execute(
                    sa.select(AWARDS.c.community_path, AWARDS.c.year, AWARDS.c.tier, sa.func.count())
                    .where(AWARDS.c.community_path.in_(paths), AWARDS.c.year.in_([year, year - 1]))
                    .group_by(AWARDS.c.community_path, AWARDS.c.year, AWARDS.c.tier)):
                tiers[(path, int(award_year))][int(tier)] = int(count)
        for path, summary in out.items():
            board = earners.get(path)
            if board is not None:
                summary.earner_count, summary.points_earned = board.earners, board.points
                summary.top = [Ranked(e.rank, e.volunteer_id, names.get((path, e.volunteer_id), ""), e.points_earned)
                               for e in board.top]
            for award_year in (year, year - 1):
                if (path, award_year) in tiers:
                    summary.award_year, summary.awards_by_tier = award_year, tiers[(path, award_year)]
                    break
        return list(out.values())
