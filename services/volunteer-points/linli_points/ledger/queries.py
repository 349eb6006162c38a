"""What the rest of the service asks of the ledger's history: points earned per volunteer in a
period (rankings, year-end awards), points credited for one reason (activity caps), and what
each funding source issued and what became of it (the funding report).

The ledger's tables are read only through the ledger package; these are its answers to those
questions. They take the caller's connection, so a question asked inside a transaction (an
activity's cap, checked while crediting it; the year-end close) sees what that transaction
sees. Both are range scans on `ix_points_transfer_period` (community, created_at).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger.accounts import FUNDING_PREFIX, ISSUANCE, VOLUNTEER_PREFIX, funding_account, volunteer_account
from linli_points.ledger.lots import Flow, Origin
from linli_points.ledger.model import Kind, Transfer
from linli_points.ledger.rows import transfer_of
from linli_points.ledger.store import POSTED_KINDS
from linli_points.ledger.tables import accounts, earned_years, lot_uses, lots, transfers
from linli_runtime.db import Database
from linli_runtime.times import day_bounds

Period = tuple[datetime, datetime]  # [start, end) in UTC


def _earned_in(period: Period) -> tuple[sa.ColumnElement[bool], ...]:
    return (transfers.c.kind.in_([int(k) for k in POSTED_KINDS]), sa.or_(_IS_CREDIT, _IS_RETURN),
            transfers.c.created_at >= period[0], transfers.c.created_at < period[1])


async def earned_per_volunteer(conn: AsyncConnection, path: str, period: Period) -> dict[str, int]:
    """Points each volunteer of `path` earned in the period: credits from system/issuance or a
    funding source net of those returned to them (reversals, negative adjustments), by volunteer id. A volunteer
    whose returns outweigh their credits in the period has a negative total."""
    query = (sa.select(_EARNER.label("account"), _EARNED).where(transfers.c.community_path == path, *_earned_in(period))
             .group_by(_EARNER))
    return {row.account[len(VOLUNTEER_PREFIX):]: int(row.earned) for row in await conn.execute(query)}


@dataclass(frozen=True)
class TopEarner:
    volunteer_id: str
    points_earned: int
    rank: int  # ties share a rank (1, 2, 2, 4)


async def top_earners_in(conn: AsyncConnection, paths: list[str], period: Period, *, ranks: int = 0,
                         percent: int = 0) -> dict[str, tuple[int, list[TopEarner]]]:
    """The best earners of many communities in one statement (the year-end close of a street or
    a city), ranked by the database: for each community with earners, how many volunteers
    earned points above zero in the period, and those ranked within `ranks`, or within
    `percent` % of them plus three ranks (a rule rounding up each of three shares takes at
    most that many; the caller applies its rule exactly). Only the few it awards leave the
    database, not every volunteer of the city."""
    if not paths:
        return {}
    earned = (sa.select(transfers.c.community_path, _EARNER.label("account"), _EARNED)
              .where(transfers.c.community_path.in_(paths), *_earned_in(period))
              .group_by(transfers.c.community_path, _EARNER)
              .having(_EARNED_SUM > 0)
              .subquery())
    community = earned.c.community_path
    ranked = sa.select(community, earned.c.account, earned.c.earned,
                       sa.func.rank().over(partition_by=community, order_by=earned.c.earned.desc()).label("rank"),
                       sa.func.count().over(partition_by=community).label("ranked")).subquery()
    within = (ranked.c.rank <= ranks if not percent
              else ranked.c.rank * 100 <= ranked.c.ranked * percent + 300)
    found: dict[str, tuple[int, list[TopEarner]]] = {}
    for path, account, points, rank, count in await conn.execute(
            sa.select(ranked.c.community_path, ranked.c.account, ranked.c.earned, ranked.c.rank, ranked.c.ranked)
            .where(within)):
        found.setdefault(path, (int(count), []))[1].append(
            TopEarner(account[len(VOLUNTEER_PREFIX):], int(points), int(rank)))
    return found


async def credited_for(conn: AsyncConnection, path: str, volunteer_id: str, reason: str, period: Period) -> int:
    """Points credited to a volunteer from system/issuance or a funding source with `reason` (a
    task category) by direct transfers in the period — what a category's daily and monthly caps
    count."""
    total = (await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
            transfers.c.community_path == path, _issuing(transfers.c.debit_account),
            transfers.c.credit_account == volunteer_account(volunteer_id), transfers.c.reason == reason,
            transfers.c.kind == int(Kind.DIRECT),
            transfers.c.created_at >= period[0], transfers.c.created_at < period[1],
        )
    )).scalar_one()
    return int(total)


def _issuing(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """The account issues points: system/issuance or a funding source's."""
    return sa.or_(column == ISSUANCE, column.startswith(FUNDING_PREFIX))


# Points earned: credits from an issuing account to a volunteer, net of returns to one.
_IS_CREDIT = sa.and_(_issuing(transfers.c.debit_account), transfers.c.credit_account.startswith(VOLUNTEER_PREFIX))
_IS_RETURN = sa.and_(_issuing(transfers.c.credit_account), transfers.c.debit_account.startswith(VOLUNTEER_PREFIX))
_EARNER = sa.case((_IS_CREDIT, transfers.c.credit_account), else_=transfers.c.debit_account)
_EARNED_SUM = sa.func.sum(sa.case((_IS_CREDIT, transfers.c.amount), else_=-transfers.c.amount))
_EARNED = _EARNED_SUM.label("earned")


@dataclass
class SourceTotals:
    """A funding source's points (source "" is the unfunded: issued from system/issuance).
    issued = outstanding + redeemed + expired + returned (lots.py)."""

    source: str
    budget: int = 0  # moved from system/issuance to the source's account, net of withdrawals
    budget_remaining: int = 0  # the source's account balance: what it may still issue
    issued: int = 0
    redeemed: int = 0  # net of refunds
    expired: int = 0
    returned: int = 0
    outstanding: int = 0  # what volunteers still hold


async def funding_totals(conn: AsyncConnection, path: str) -> dict[str, SourceTotals]:
    """Every funding source of `path` with points or budget, by id ("" for unfunded points)."""
    found: dict[str, SourceTotals] = {}

    def of(source: str) -> SourceTotals:
        return found.setdefault(source, SourceTotals(source))

    issued = sa.case((lots.c.origin.in_([int(Origin.ISSUED), int(Origin.OPENING)]), lots.c.amount), else_=0)
    for source, total_issued, outstanding in await conn.execute(
            sa.select(lots.c.source, sa.func.sum(issued), sa.func.sum(lots.c.remaining))
            .where(lots.c.community_path == path).group_by(lots.c.source)):
        of(source).issued, of(source).outstanding = int(total_issued), int(outstanding)
    for source, flow, amount in await conn.execute(
            sa.select(lot_uses.c.source, lot_uses.c.flow, sa.func.sum(lot_uses.c.amount))
            .where(lot_uses.c.community_path == path, lot_uses.c.flow != int(Flow.MOVED))
            .group_by(lot_uses.c.source, lot_uses.c.flow)):
        totals = of(source)
        if flow == Flow.REDEEMED:
            totals.redeemed += int(amount)
        elif flow == Flow.EXPIRED:
            totals.expired += int(amount)
        else:
            totals.returned += int(amount)
    posted = [int(k) for k in POSTED_KINDS]
    budget = sa.case((transfers.c.debit_account == ISSUANCE, transfers.c.amount), else_=-transfers.c.amount)
    funded = sa.case((transfers.c.debit_account == ISSUANCE, transfers.c.credit_account),
                     else_=transfers.c.debit_account)
    for account, amount in await conn.execute(
            sa.select(funded, sa.func.sum(budget)).where(
                transfers.c.community_path == path, transfers.c.kind.in_(posted),
                sa.or_(sa.and_(transfers.c.debit_account == ISSUANCE,
                               transfers.c.credit_account.startswith(FUNDING_PREFIX)),
                       sa.and_(transfers.c.credit_account == ISSUANCE,
                               transfers.c.debit_account.startswith(FUNDING_PREFIX))))
            .group_by(funded)):
        of(account[len(FUNDING_PREFIX):]).budget = int(amount)
    for name, balance in await conn.execute(
            sa.select(accounts.c.name, accounts.c.credits_posted - accounts.c.debits_posted).where(
                accounts.c.community_path == path, accounts.c.name.startswith(FUNDING_PREFIX))):
        of(name[len(FUNDING_PREFIX):]).budget_remaining = int(balance)
    return found


async def budget_remaining(conn: AsyncConnection, path: str, source: str) -> int:
    """What a funding source may still issue (its account's posted balance; 0 before any budget)."""
    balance = (await conn.execute(sa.select(accounts.c.credits_posted - accounts.c.debits_posted).where(
        accounts.c.community_path == path, accounts.c.name == funding_account(source)))).scalar_one_or_none()
    return int(balance or 0)


@dataclass(frozen=True)
class DayEntry:
    """A transfer touching an account, with the change it made to the account's posted balance."""

    transfer: Transfer
    change: int


async def account_days(db: Database, path: str, account: str, period: Period, after_seq: int,
                       limit: int) -> tuple[list[DayEntry], int]:
    """The transfers touching `account` created in the period, oldest first, after `after_seq`;
    and the last seq returned when there may be more (else 0). A range of
    `ix_points_transfer_period` (community, created_at): its cost is the community's rows of
    those days, however long the account's history (reconciling a day of the redemption
    clearing account). The account is matched by name, which no index holds, so the planner
    has no account-wide index to walk instead."""
    async with db.reading() as conn:
        rows = (await conn.execute(sa.select(transfers).where(
            transfers.c.community_path == path,
            transfers.c.created_at >= period[0], transfers.c.created_at < period[1],
            sa.or_(transfers.c.debit_account == account, transfers.c.credit_account == account),
            transfers.c.seq > after_seq).order_by(transfers.c.seq).limit(limit + 1))).all()
    entries = []
    for row in rows[:limit]:
        t = transfer_of(row)
        moved = t.amount if t.kind in POSTED_KINDS else 0
        entries.append(DayEntry(t, moved if t.credit_account == account else -moved))
    return entries, (entries[-1].transfer.seq if len(rows) > limit else 0)


@dataclass(frozen=True)
class EarnersSummary:
    earners: int  # volunteers who earned above zero in the period
    points: int  # what they earned together
    top: list[TopEarner]  # the first `top` of the board (points earned, then volunteer id)


async def earners_of(conn: AsyncConnection, paths: list[str], year: int, *, top: int = 3
                     ) -> dict[str, EarnersSummary]:
    """For many communities in one statement (the operators' city dashboard), each one's board
    of the China-time `year` summed up: how many earned points above zero, how many points they
    earned, and the first `top` of the board, ranked as `rankings.rank` ranks (ties share a
    rank, listed by volunteer id). Reads `points_earned_year` (kept at write time, earned.py):
    a row per volunteer who earned, not the year's transfers. On PostgreSQL each community's
    first places come from the end of its range of `ix_points_earned_year_board`; SQLite (one
    process, small places) ranks every earner with window functions."""
    if not paths:
        return {}
    if conn.dialect.name == "postgresql":
        return await _earners_by_index(conn, paths, year, max(top, 1))
    community, account = accounts.c.community_path, accounts.c.name
    board = sa.select(
        community, account, earned_years.c.earned,
        sa.func.rank().over(partition_by=community, order_by=earned_years.c.earned.desc()).label("rank"),
        sa.func.row_number().over(partition_by=community, order_by=(earned_years.c.earned.desc(), account))
        .label("place"),
        sa.func.count().over(partition_by=community).label("earners"),
        sa.func.sum(earned_years.c.earned).over(partition_by=community).label("points"),
    ).select_from(earned_years.join(accounts, accounts.c.id == earned_years.c.account_id)).where(
        community.in_(paths), earned_years.c.year == year, earned_years.c.earned > 0).subquery()
    found: dict[str, EarnersSummary] = {}
    rows = await conn.execute(sa.select(board.c.community_path, board.c.name, board.c.earned, board.c.rank,
                                        board.c.earners, board.c.points)
                              .where(board.c.place <= max(top, 1)).order_by(board.c.community_path, board.c.place))
    for path, name, points, rank, earners, total in rows:
        summary = found.setdefault(path, EarnersSummary(int(earners), int(total), []))
        if len(summary.top) < top:
            summary.top.append(TopEarner(name[len(VOLUNTEER_PREFIX):], int(points), int(rank)))
    return found


def each_of(paths: list[str]) -> sa.TableValuedAlias:
    """PostgreSQL: `paths` as a table (`unnest`) with one column, `path` — the outer side of a
    LATERAL read per community, each an index range of its own (a list of 1000 communities in
    `IN` reads the city's table whole once the planner expects a fifth of it)."""
    return sa.func.unnest(sa.bindparam("paths", paths, type_=postgresql.ARRAY(sa.String))).table_valued(
        "path").render_derived(name="wanted")


async def _earners_by_index(conn: AsyncConnection, paths: list[str], year: int, top: int
                            ) -> dict[str, EarnersSummary]:
    """`earners_of` on PostgreSQL: per community (LATERAL), its earners counted and summed over
    its index range (index-only), and its first `top` WITH TIES — whoever shares the last
    place's points comes along, so that the ties are listed by volunteer id here."""
    e = earned_years
    wanted = each_of(paths)
    board = (e.c.community_path == wanted.c.path, e.c.year == year, e.c.earned > 0)
    tally = sa.select(sa.func.count().label("earners"), sa.func.sum(e.c.earned).label("points")).where(
        *board).lateral("tally")
    first = sa.select(e.c.account_id, e.c.earned).where(*board).order_by(e.c.earned.desc()).fetch(
        top, with_ties=True).lateral("first")
    rows = await conn.execute(
        sa.select(wanted.c.path, tally.c.earners, tally.c.points, first.c.earned, accounts.c.name)
        .select_from(wanted.join(tally, sa.true()).join(first, sa.true())
                     .join(accounts, accounts.c.id == first.c.account_id)))
    boards: dict[str, list[tuple[int, str]]] = {}
    found: dict[str, EarnersSummary] = {}
    for path, earners, total, points, name in rows:
        found.setdefault(path, EarnersSummary(int(earners), int(total), []))
        boards.setdefault(path, []).append((int(points), name[len(VOLUNTEER_PREFIX):]))
    for path, entries in boards.items():
        entries.sort(key=lambda entry: (-entry[0], entry[1]))
        for points, volunteer_id in entries[:top]:
            # Ties share the rank of the first of them: 1 + how many earned more.
            rank = next(i for i, (p, _) in enumerate(entries) if p == points) + 1
            found[path].top.append(TopEarner(volunteer_id, points, rank))
    return found


@dataclass
class AccountDayTotal:
    """What one kind of posted transfer moved into (credited) and out of (debited) an account
    on one China-time day."""

    community_path: str
    day: date
    kind: Kind
    credited: int = 0
    debited: int = 0
    transfers: int = 0


def _china_day(when: sa.ColumnElement[datetime], dialect: str) -> sa.ColumnElement[Any]:
    """The China-time day of a stored UTC time, in SQL (China keeps no daylight saving time)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("Asia/Shanghai", when), sa.Date)
    return sa.func.date(when, "+8 hours")  # SQLite keeps UTC times as text


async def account_day_totals(db: Database, paths: list[str], account: str, first: date, last: date
                             ) -> list[AccountDayTotal]:
    """For many communities at once (the operators' city dashboard reconciling redemptions), the
    posted transfers touching each one's `account` totalled per day and kind by the database. A
    posted hold counts on the day its hold was placed (the hold's PENDING row, joined by the
    POST's related id): a redemption is recorded on that day though its hold may post after
    midnight; holds last a day at most, so the read runs one day past `last`. A range of
    `ix_points_transfer_period` per community, like `account_days`; each POST's hold is found
    by the unique (community, transfer id) key, row by row (a join let PostgreSQL hash every
    transfer of the city, each call, to find 28 000 holds)."""
    if not paths:
        return []
    hold = transfers.alias("hold")
    hold_placed = sa.select(hold.c.created_at).where(
        hold.c.community_path == transfers.c.community_path,
        hold.c.transfer_id == transfers.c.related_transfer_id).scalar_subquery()
    placed = sa.case((transfers.c.kind == int(Kind.POST), sa.func.coalesce(hold_placed, transfers.c.created_at)),
                     else_=transfers.c.created_at)
    start, end = day_bounds(first)[0], day_bounds(last + timedelta(days=1))[1]
    moved = (sa.select(transfers.c.community_path, _china_day(placed, db.engine.dialect.name).label("day"),
                       transfers.c.kind, (transfers.c.credit_account == account).label("credited"),
                       transfers.c.amount)
             .where(transfers.c.community_path.in_(paths),
                    transfers.c.created_at >= start, transfers.c.created_at < end,
                    transfers.c.kind.in_([int(k) for k in POSTED_KINDS]),
                    sa.or_(transfers.c.debit_account == account, transfers.c.credit_account == account))
             .subquery("moved"))
    query = (sa.select(moved.c.community_path, moved.c.day, moved.c.kind, moved.c.credited, sa.func.count(),
                       sa.func.sum(moved.c.amount))
             .group_by(moved.c.community_path, moved.c.day, moved.c.kind, moved.c.credited))
    totals: dict[tuple[str, date, int], AccountDayTotal] = {}
    async with db.reading() as conn:
        for path, when, kind, into, count, amount in await conn.execute(query):
            on = when if isinstance(when, date) else date.fromisoformat(str(when))
            if not first <= on <= last:
                continue
            total = totals.setdefault((path, on, kind), AccountDayTotal(path, on, Kind(kind)))
            total.transfers += int(count)
            if into:
                total.credited += int(amount)
            else:
                total.debited += int(amount)
    return [totals[k] for k in sorted(totals)]
