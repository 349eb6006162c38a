"""Each community of a place summed up for the operators' city dashboard, many communities in a
few statements instead of a dozen calls each: how many volunteers, how many of them earned
points in the year and how many points, the first three of the year's board, and the latest
year-end awards (the year's, else the year before's) counted by tier."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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
            for path, count in await conn.execute(_volunteer_counts(paths, conn.dialect.name)):
                out[path].volunteer_count = int(count)
            earners = await queries.earners_of(conn, paths, year, top=TOP)
            wanted = sorted({(p, e.volunteer_id) for p, s in earners.items() for e in s.top})
            names: dict[tuple[str, str], str] = {}
            if wanted:
                for path, volunteer_id, name in await conn.execute(_names(wanted, conn.dialect.name)):
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


def _volunteer_counts(paths: list[str], dialect: str) -> sa.Select[Any]:
    """How many volunteers each community has: on PostgreSQL counted per community (LATERAL)
    over its range of the primary key, index only."""
    if dialect != "postgresql":
        return sa.select(VOLUNTEERS.c.community_path, sa.func.count()).where(
            VOLUNTEERS.c.community_path.in_(paths)).group_by(VOLUNTEERS.c.community_path)
    wanted = queries.each_of(paths)
    counted = sa.select(sa.func.count().label("n")).where(VOLUNTEERS.c.community_path == wanted.c.path).lateral()
    return sa.select(wanted.c.path, counted.c.n).select_from(wanted.join(counted, sa.true()))


def _names(wanted: list[tuple[str, str]], dialect: str) -> sa.Select[Any]:
    """The display names of volunteers named by (community, id) pairs: ids repeat across
    communities (v-001 in each). On PostgreSQL the pairs are a table (two arrays unnested side
    by side), each looked up by the primary key (LATERAL … LIMIT 1, which the planner cannot
    turn into a hash join over the whole table, as it did with a join or 3000 pairs in `IN`)."""
    v = VOLUNTEERS.c
    if dialect != "postgresql":
        return sa.select(v.community_path, v.volunteer_id, v.display_name).where(
            sa.tuple_(v.community_path, v.volunteer_id).in_(wanted))
    pairs = sa.func.unnest(
        sa.bindparam("name_paths", [p for p, _ in wanted], type_=postgresql.ARRAY(sa.String)),
        sa.bindparam("name_ids", [i for _, i in wanted], type_=postgresql.ARRAY(sa.String)),
    ).table_valued("path", "volunteer_id").render_derived(name="pairs")
    named = sa.select(v.display_name).where(v.community_path == pairs.c.path,
                                            v.volunteer_id == pairs.c.volunteer_id).limit(1).lateral()
    return sa.select(pairs.c.path, pairs.c.volunteer_id, named.c.display_name).select_from(
        pairs.join(named, sa.true()))
