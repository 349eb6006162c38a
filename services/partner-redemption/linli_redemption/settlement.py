"""Daily settlement per merchant and its reconciliation with the points ledger.

Both key on the ledger's own time of each transfer (the hold of a redemption — placed before
the redemption commits, posted just after from its event — and the REVERSAL of a refund),
recorded on our rows as a China-time day, so a redemption whose hold was placed at 23:59:59.9
falls on the same day on both sides, however late its hold is posted. Reconciling compares, transfer by transfer,
what our rows recorded with what the clearing account saw (`compare`, a pure function).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.partners import MERCHANT
from linli_redemption.points import ClearingDay, ClearingEntry, Points, TransferKind, post_transfer_id
from linli_redemption.redemption_rules import COMMITTED, ledger_day
from linli_redemption.tables import DAY_SUMMARIES, PARTNERS, REDEMPTIONS, REFUNDS
from linli_runtime import times
from linli_runtime.clock import Clock
from linli_runtime.db import Database

log = logging.getLogger(__name__)


@dataclass
class DailySettlement:
    merchant_id: str
    date: str
    redemption_count: int = 0
    redeemed_points: int = 0
    refund_count: int = 0
    refunded_points: int = 0

    @property
    def net_points(self) -> int:
        return self.redeemed_points - self.refunded_points


@dataclass(frozen=True)
class Mismatch:
    transfer_id: str
    recorded_points: int
    ledger_points: int


@dataclass(frozen=True)
class Reconciliation:
    community_path: str
    date: str
    settlements: list[DailySettlement]
    recorded_redeemed_points: int
    recorded_refunded_points: int
    ledger_redeemed_points: int
    ledger_refunded_points: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.mismatches and (self.recorded_redeemed_points, self.recorded_refunded_points) == (
            self.ledger_redeemed_points, self.ledger_refunded_points)


@dataclass
class MerchantTotals:
    """A merchant's redemptions and refunds over some days (the city dashboard's rows)."""

    community_path: str
    merchant_id: str
    display_name: str
    redemption_count: int = 0
    redeemed_points: int = 0
    refund_count: int = 0
    refunded_points: int = 0


@dataclass(frozen=True)
class DayBalance:
    """A community's day in totals: what our rows recorded against what the clearing account moved."""

    community_path: str
    date: str
    recorded_redeemed_points: int
    recorded_refunded_points: int
    ledger_redeemed_points: int
    ledger_refunded_points: int

    @property
    def balanced(self) -> bool:
        return (self.recorded_redeemed_points, self.recorded_refunded_points) == (
            self.ledger_redeemed_points, self.ledger_refunded_points)


@dataclass(frozen=True)
class RedemptionsSummary:
    merchants: list[MerchantTotals]  # every merchant of the communities, by community then id
    unbalanced: list[DayBalance]  # the days whose totals differ, by community then day


def movement(entry: ClearingEntry, day: str, hold_days: dict[str, str] | None = None) -> int:
    """What a clearing-account entry counts for on `day`: + points gained by a posted hold, −
    points given back by a reversal, 0 for anything else (placing or voiding a hold, another day).
    A posted hold counts on the day it was placed when `hold_days` (hold id → day, from the
    history's PENDING entries) knows it: a redemption commits with its hold's day, and the hold
    is posted a moment later from the committed event — possibly after midnight."""
    transfer = entry.transfer
    if transfer.kind not in (TransferKind.POST, TransferKind.REVERSAL):
        return 0
    when = ledger_day(transfer.create_time)
    if transfer.kind == TransferKind.POST and hold_days:
        when = hold_days.get(transfer.transfer_id.removesuffix(post_transfer_id("")), when)
    return entry.change if when == day else 0


def ledger_movements(entries: Iterable[ClearingEntry], day: str) -> dict[str, int]:
    """What the clearing account's entries (oldest first) moved on `day`, by transfer id."""
    ledger: dict[str, int] = defaultdict(int)
    hold_days: dict[str, str] = {}
    eve = _day_before(day)
    for entry in entries:
        if entry.transfer.kind == TransferKind.PENDING:
            placed = ledger_day(entry.transfer.create_time)
            if placed in (day, eve):  # only a hold of the day or the eve can post on it
                hold_days[entry.transfer.transfer_id] = placed
        moved = movement(entry, day, hold_days)
        if moved:
            ledger[entry.transfer.transfer_id] += moved
    return ledger


def compare(community_path: str, day: str, recorded: dict[str, int], ledger: dict[str, int],
            settlements: list[DailySettlement]) -> Reconciliation:
    """Our records (+ redeemed, − refunded, by transfer id) against the ledger's movements."""
    mismatches = [Mismatch(tid, recorded.get(tid, 0), ledger.get(tid, 0))
                  for tid in sorted(set(recorded) | set(ledger)) if recorded.get(tid, 0) != ledger.get(tid, 0)]
    return Reconciliation(
        community_path=community_path, date=day, settlements=settlements,
        recorded_redeemed_points=sum(v for v in recorded.values() if v > 0),
        recorded_refunded_points=-sum(v for v in recorded.values() if v < 0),
        ledger_redeemed_points=sum(v for v in ledger.values() if v > 0),
        ledger_refunded_points=-sum(v for v in ledger.values() if v < 0),
        mismatches=mismatches)


def balances(recorded: dict[tuple[str, str], list[int]], ledger: Iterable[ClearingDay]) -> list[DayBalance]:
    """Each (community, day)'s recorded [redeemed, refunded] against the ledger's totals."""
    moved = {(d.community_path, d.day): (d.redeemed, d.refunded) for d in ledger}
    out = []
    for path, day in sorted(set(recorded) | set(moved)):
        (ours_in, ours_out), (ledger_in, ledger_out) = recorded.get((path, day), [0, 0]), moved.get((path, day), (0, 0))
        out.append(DayBalance(path, day, ours_in, ours_out, ledger_in, ledger_out))
    return out


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def sealed_through(now: datetime) -> str:
    """The last China-time day whose redemptions and clearing movements can no longer change: a
    redemption commits on its hold's day before the hold expires (a day at most, and the ledger
    refuses to post an expired hold), so a day is final once the day after it has ended; an
    hour's margin for replicas' clocks and a commit in flight at midnight."""
    return (times.local_day(now - timedelta(hours=1)) - timedelta(days=2)).isoformat()


def _days(first: str, last: str) -> list[str]:
    """Every day of `first` … `last` ([] when `last` is before `first`)."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _add(row: MerchantTotals | None, counts: Sequence[int]) -> None:
    if row is not None:  # a partner that is no merchant (any more) is not listed
        row.redemption_count += counts[0]
        row.redeemed_points += counts[1]
        row.refund_count += counts[2]
        row.refunded_points += counts[3]


async def _kept_through(conn: AsyncConnection, paths: list[str], first: str, last: str) -> dict[str, str]:
    """Each community's last day of an unbroken run of kept days from `first` (to `last` at
    most); a community with none kept from `first`, or with a gap, is not in the answer (read
    from `first`: what is kept already stays, the gap is kept)."""
    s = DAY_SUMMARIES.c
    through: dict[str, str] = {}
    for path, count, latest in (await conn.execute(
            sa.select(s.community_path, sa.func.count(), sa.func.max(s.ledger_day))
            .where(s.community_path.in_(paths), s.merchant_id == "", s.ledger_day >= first, s.ledger_day <= last)
            .group_by(s.community_path))).all():
        if int(count) == len(_days(first, str(latest))):
            through[path] = str(latest)
    return through


async def _kept_figures(conn: AsyncConnection, paths: list[str], first: str, last: str
                        ) -> dict[tuple[str, str], list[int]]:
    """Each (community, merchant)'s kept figures over `first` … `last`, summed by the database —
    a row per merchant, not per merchant and day (50,000 rows a city page cost partner-redemption
    more to take in than the database to read)."""
    s = DAY_SUMMARIES.c
    return {(path, mid): [int(x or 0) for x in sums] for path, mid, *sums in (await conn.execute(
        sa.select(s.community_path, s.merchant_id, sa.func.sum(s.redemption_count), sa.func.sum(s.redeemed_points),
                  sa.func.sum(s.refund_count), sa.func.sum(s.refunded_points))
        .where(s.community_path.in_(paths), s.merchant_id != "", s.ledger_day >= first, s.ledger_day <= last)
        .group_by(s.community_path, s.merchant_id))).all()}


def _kept_rows(paths: list[str], sealed: list[str], per_merchant: dict[tuple[str, str, str], list[int]],
               days: list[DayBalance]) -> list[dict[str, object]]:
    """rd_day_summary rows for the sealed days of `paths` that balance with the ledger (a day
    that does not is read again each time: a refund or commit still to be recorded may mend it)."""
    unbalanced = {(b.community_path, b.date) for b in days if not b.balanced}
    keep = {(path, day) for path in paths for day in sealed if (path, day) not in unbalanced}
    rows: list[dict[str, object]] = [_summary_row(path, day, "", [0, 0, 0, 0]) for path, day in sorted(keep)]
    rows.extend(_summary_row(path, day, mid, counts) for (path, day, mid), counts in sorted(per_merchant.items())
                if (path, day) in keep)
    return rows


def _summary_row(path: str, day: str, merchant_id: str, counts: Sequence[int]) -> dict[str, object]:
    return {"community_path": path, "ledger_day": day, "merchant_id": merchant_id, "redemption_count": counts[0],
            "redeemed_points": counts[1], "refund_count": counts[2], "refunded_points": counts[3]}


class Settlement:
    def __init__(self, db: Database, points: Points, clock: Clock) -> None:
        self.db, self.points, self.clock = db, points, clock

    async def merchant_day(self, merchant_id: str, day: str) -> DailySettlement:
        return (await self.settlements(day, merchant_id=merchant_id)).get(
            merchant_id, DailySettlement(merchant_id=merchant_id, date=day))

    async def settlements(self, day: str, *, merchant_id: str | None = None,
                          community_path: str | None = None) -> dict[str, DailySettlement]:
        r_where = [REDEMPTIONS.c.state == COMMITTED, REDEMPTIONS.c.ledger_day == day]
        f_where = [REFUNDS.c.completed == sa.true(), REFUNDS.c.ledger_day == day]
        if merchant_id is not None:
            r_where.append(REDEMPTIONS.c.merchant_id == merchant_id)
            f_where.append(REFUNDS.c.merchant_id == merchant_id)
        if community_path is not None:
            r_where.append(REDEMPTIONS.c.community_path == community_path)
            f_where.append(REFUNDS.c.community_path == community_path)
        async with self.db.reading() as conn:
            redeemed = (await conn.execute(
                sa.select(REDEMPTIONS.c.merchant_id, sa.func.count(), sa.func.sum(REDEMPTIONS.c.points))
                .where(*r_where).group_by(REDEMPTIONS.c.merchant_id))).all()
            refunded = (await conn.execute(
                sa.select(REFUNDS.c.merchant_id, sa.func.count(), sa.func.sum(REFUNDS.c.points))
                .where(*f_where).group_by(REFUNDS.c.merchant_id))).all()
        out: dict[str, DailySettlement] = {}
        for mid, count, points in redeemed:
            s = out.setdefault(mid, DailySettlement(merchant_id=mid, date=day))
            s.redemption_count, s.redeemed_points = int(count), int(points or 0)
        for mid, count, points in refunded:
            s = out.setdefault(mid, DailySettlement(merchant_id=mid, date=day))
            s.refund_count, s.refunded_points = int(count), int(points or 0)
        return out

    async def summarize(self, paths: list[str], first: str, last: str, *,
                        timeout: float | None = None) -> RedemptionsSummary:
        """For many communities at once (the city dashboard): each merchant's redemptions and
        refunds over the days `first` … `last`, and the days whose totals do not balance with the
        clearing account's — summed by our database and the ledger's, two statements here and one
        call there per 1000 communities. A day that does not balance is opened with `reconcile`,
        which finds the transfers (totals that differ in ways that cancel out are seen there).

        A day that can no longer change (`sealed_through`) and balanced is kept summed up
        (rd_day_summary) the first time it is read: later reads take a community's unbroken run
        of kept days from `first` as kept and sum only the days after it — the week's last two
        days, not its seven; the morning after, three, keeping the day that has just been sealed —
        and ask the ledger about those only."""
        sealed_last = min(last, sealed_through(self.clock.now()))
        sealed = sealed_last >= first  # ISO days: any day of the period sealed
        groups: dict[str, list[str]] = defaultdict(list)  # the first day to sum → its communities
        async with self.db.reading() as conn:
            merchants = {(path, mid): MerchantTotals(path, mid, name) for mid, path, name in (await conn.execute(
                sa.select(PARTNERS.c.id, PARTNERS.c.community_path, PARTNERS.c.display_name).where(
                    PARTNERS.c.community_path.in_(paths), PARTNERS.c.kind == MERCHANT))).all()}
            kept_through = await _kept_through(conn, paths, first, sealed_last) if sealed else {}
            for path in paths:
                groups[_day_after(kept_through[path]) if path in kept_through else first].append(path)
            for since, group in groups.items():
                if since > first:
                    for (path, mid), counts in (await _kept_figures(conn, group, first, _day_before(since))).items():
                        _add(merchants.get((path, mid)), counts)
        reads = [(group, since) for since, group in sorted(groups.items()) if since <= last]
        summed = await asyncio.gather(*(self._sum_days(group, since, last, timeout) for group, since in reads))
        unbalanced: list[DayBalance] = []
        to_keep: list[dict[str, object]] = []
        for (group, since), (per_merchant, ledger) in zip(reads, summed, strict=True):
            recorded: dict[tuple[str, str], list[int]] = {}
            for (path, day, mid), counts in per_merchant.items():
                _add(merchants.get((path, mid)), counts)
                day_total = recorded.setdefault((path, day), [0, 0])
                day_total[0] += counts[1]
                day_total[1] += counts[3]
            days = balances(recorded, ledger)
            unbalanced.extend(b for b in days if not b.balanced)
            to_keep.extend(_kept_rows(group, _days(since, sealed_last), per_merchant, days))
        if to_keep:
            await self._keep(to_keep)
        return RedemptionsSummary([merchants[k] for k in sorted(merchants)],
                                  sorted(unbalanced, key=lambda b: (b.community_path, b.date)))

    async def _sum_days(self, paths: list[str], first: str, last: str, timeout: float | None
                        ) -> tuple[dict[tuple[str, str, str], list[int]], list[ClearingDay]]:
        """The communities' redemptions and refunds of `first` … `last` by (community, day,
        merchant) as [redemptions, points redeemed, refunds, points refunded], beside the
        clearing account's totals of those days (asked of the ledger while our database sums)."""
        # The ledger's part within the caller's deadline (the city page's background read
        # allows two minutes), not the client's default meant for the POS's calls.
        ledger = asyncio.ensure_future(self.points.clearing_totals(paths, first, last, timeout=timeout))
        per_merchant: dict[tuple[str, str, str], list[int]] = {}
        try:
            async with self.db.reading() as conn:
                for path, mid, day, count, points in (await conn.execute(
                        sa.select(REDEMPTIONS.c.community_path, REDEMPTIONS.c.merchant_id, REDEMPTIONS.c.ledger_day,
                                  sa.func.count(), sa.func.sum(REDEMPTIONS.c.points))
                        .where(REDEMPTIONS.c.community_path.in_(paths), REDEMPTIONS.c.ledger_day >= first,
                               REDEMPTIONS.c.ledger_day <= last, REDEMPTIONS.c.state == COMMITTED)
                        .group_by(REDEMPTIONS.c.community_path, REDEMPTIONS.c.merchant_id,
                                  REDEMPTIONS.c.ledger_day))).all():
                    counts = per_merchant.setdefault((path, day, mid), [0, 0, 0, 0])
                    counts[0], counts[1] = int(count), int(points or 0)
                for path, mid, day, count, points in (await conn.execute(
                        sa.select(REFUNDS.c.community_path, REFUNDS.c.merchant_id, REFUNDS.c.ledger_day,
                                  sa.func.count(), sa.func.sum(REFUNDS.c.points))
                        .where(REFUNDS.c.community_path.in_(paths), REFUNDS.c.ledger_day >= first,
                               REFUNDS.c.ledger_day <= last, REFUNDS.c.completed == sa.true())
                        .group_by(REFUNDS.c.community_path, REFUNDS.c.merchant_id, REFUNDS.c.ledger_day))).all():
                    counts = per_merchant.setdefault((path, day, mid), [0, 0, 0, 0])
                    counts[2], counts[3] = int(count), int(points or 0)
        except BaseException:
            ledger.cancel()
            raise
        return per_merchant, await ledger

    async def _keep(self, rows: list[dict[str, object]]) -> None:
        """Keep sealed days summed up; another replica keeping the same day first is no matter
        (the same figures), and a failure only means the day is summed again next time."""
        try:
            async with self.db.transaction() as session:
                conn = await session.connection()
                insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(DAY_SUMMARIES)
                await conn.execute(insert.on_conflict_do_nothing(), rows)
        except SQLAlchemyError:
            log.warning("sealed days of redemptions could not be kept; they are summed again next time",
                        exc_info=True)

    async def reconcile(self, community_path: str, day: str) -> Reconciliation:
        recorded: dict[str, int] = {}
        async with self.db.reading() as conn:
            for tid, pts in (await conn.execute(sa.select(REDEMPTIONS.c.transfer_id, REDEMPTIONS.c.points).where(
                    REDEMPTIONS.c.state == COMMITTED, REDEMPTIONS.c.ledger_day == day,
                    REDEMPTIONS.c.community_path == community_path))).all():
                recorded[tid] = int(pts)
            for tid, pts in (await conn.execute(sa.select(REFUNDS.c.transfer_id, REFUNDS.c.points).where(
                    REFUNDS.c.completed == sa.true(), REFUNDS.c.ledger_day == day,
                    REFUNDS.c.community_path == community_path))).all():
                recorded[tid] = -int(pts)
        # The eve (a hold placed then can post on the day), the day, and the morrow (a hold of the
        # day posts from its event, maybe after midnight; holds last a day at most, so no later):
        # three days of the clearing account's rows, however long its history.
        ledger = ledger_movements([e async for e in self.points.clearing_days(
            community_path, _day_before(day), _day_after(day))], day)
        per_merchant = await self.settlements(day, community_path=community_path)
        return compare(community_path, day, recorded, ledger, [per_merchant[m] for m in sorted(per_merchant)])
