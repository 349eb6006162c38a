"""A day of an account's transfers (`queries.account_days`, LedgerService.ListDayTransfers),
read from that day's rows: the same entries as the account's whole history cut to the day, and
a read whose cost does not grow with the history — years of the redemption clearing account
planted before the day are not scanned (PostgreSQL: rows the plan read; SQLite: the plan's
index range). This is what ReconcileDay reads for a community's day."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from linli_points.ledger import queries
from linli_points.ledger.accounts import ISSUANCE, REDEMPTION_CLEARING, volunteer_account
from linli_points.ledger.model import Kind, TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.ledger.tables import accounts, transfers

from linli_runtime.clock import ManualClock
from linli_runtime.times import day_bounds, local_day

from .conftest import FENGSHU

DAY = date(2026, 3, 10)
PLANTED = 3000  # clearing rows before the day: "years" of history, at a test's scale


async def redeem(ledger: Ledger, clock: ManualClock, n: int, when: datetime, *, post: bool = True) -> None:
    clock.set(when)
    await ledger.place_hold(TransferRequest(FENGSHU, f"h-{n}", volunteer_account("v-1"), REDEMPTION_CLEARING, 2,
                                          kind=Kind.PENDING, timeout_seconds=86_400, reason="redemption"))
    if post:
        clock.set(when + timedelta(minutes=2))  # posted from the committed event, maybe after midnight
        await ledger.post_hold(FENGSHU, f"h-{n}")


async def plant_history(ledger: Ledger, before: datetime) -> None:
    """PLANTED posted redemptions on the days before `before`, written straight into the table."""
    async with ledger.db.engine.begin() as conn:
        ids = dict((await conn.execute(sa.select(accounts.c.name, accounts.c.id).where(
            accounts.c.community_path == FENGSHU))).all())
        await conn.execute(transfers.insert(), [
            {"community_path": FENGSHU, "transfer_id": f"old-{i}", "kind": int(Kind.DIRECT),
             "debit_account_id": ids[volunteer_account("v-1")], "credit_account_id": ids[REDEMPTION_CLEARING],
             "debit_account": volunteer_account("v-1"), "credit_account": REDEMPTION_CLEARING, "amount": 1,
             "reason": "redemption", "source": "", "related_transfer_id": "", "fingerprint": "x" * 64,
             "debit_balance_after": 0, "credit_balance_after": None,
             "created_at": before - timedelta(hours=1 + i)} for i in range(PLANTED)])


async def a_day_with_history(ledger: Ledger, clock: ManualClock) -> tuple[datetime, datetime]:
    start, end = day_bounds(DAY)
    clock.set(start - timedelta(days=3))
    await ledger.transfer(TransferRequest(FENGSHU, "fund", ISSUANCE, volunteer_account("v-1"), 10_000))
    await redeem(ledger, clock, 0, start - timedelta(hours=5))  # the eve
    await redeem(ledger, clock, 1, start + timedelta(hours=3))
    await redeem(ledger, clock, 2, start + timedelta(hours=9), post=False)  # still held
    await redeem(ledger, clock, 3, end - timedelta(minutes=1))  # posted just after midnight
    await redeem(ledger, clock, 4, end + timedelta(hours=4))  # the next day
    await plant_history(ledger, start - timedelta(days=3))
    return start, end


async def test_a_days_read_is_the_history_cut_to_those_days(ledger: Ledger, clock: ManualClock) -> None:
    start, end = await a_day_with_history(ledger, clock)
    history, after = [], 0
    while True:  # the whole history, as ListTransfers walks it
        page, after = await ledger.history(FENGSHU, REDEMPTION_CLEARING, after, 1000)
        history.extend(page)
        if not after:
            break
    window = (start - timedelta(days=1), end + timedelta(days=1))
    expected = [(e.transfer.transfer_id, e.change) for e in history if window[0] <= e.transfer.created_at < window[1]]
    got: list[tuple[str, int]] = []
    after = 0
    while True:  # pages of 2: the token resumes exactly
        days, after = await queries.account_days(ledger.db, FENGSHU, REDEMPTION_CLEARING, window, after, 2)
        got.extend((e.transfer.transfer_id, e.change) for e in days)
        if not after:
            break
    assert got == expected
    assert [tid for tid, _ in got] == ["h-0", "h-0/post", "h-1", "h-1/post", "h-2", "h-3", "h-3/post", "h-4",
                                       "h-4/post"]
    assert dict(got)["h-1/post"] == 2 and dict(got)["h-1"] == 0


def _rows_read(plan: dict[str, object]) -> int:
    """Rows every scan node of a PostgreSQL EXPLAIN ANALYZE plan read, kept or filtered out."""
    read = 0
    if "Scan" in str(plan.get("Node Type", "")):
        loops = int(plan.get("Actual Loops", 1))  # type: ignore[call-overload]
        read += loops * (int(plan.get("Actual Rows", 0)) + int(plan.get("Rows Removed by Filter", 0))  # type: ignore[call-overload]
                         + int(plan.get("Rows Removed by Index Recheck", 0)))  # type: ignore[call-overload]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        read += _rows_read(child)
    return read


async def test_a_days_read_does_not_scan_the_accounts_history(ledger: Ledger, clock: ManualClock) -> None:
    start, end = await a_day_with_history(ledger, clock)
    window = (start - timedelta(days=1), end + timedelta(days=1))
    query = (sa.select(transfers).where(
        transfers.c.community_path == FENGSHU, transfers.c.created_at >= window[0], transfers.c.created_at < window[1],
        sa.or_(transfers.c.debit_account == REDEMPTION_CLEARING, transfers.c.credit_account == REDEMPTION_CLEARING),
        transfers.c.seq > 0).order_by(transfers.c.seq).limit(1001))
    async with ledger.db.engine.connect() as conn:
        compiled = query.compile(conn.engine, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.text("ANALYZE points_transfer"))
            plan = (await conn.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"))).scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            # The window holds the community's 9 rows of those days; the history, thousands.
            assert _rows_read(plan[0]["Plan"]) <= 20, plan
        else:
            steps = [str(r[-1]) for r in await conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))]
            assert any("ix_points_transfer_period" in s and "created_at>" in s and "created_at<" in s
                       for s in steps), steps
    assert len((await queries.account_days(ledger.db, FENGSHU, REDEMPTION_CLEARING, window, 0, 1000))[0]) == 9
    assert PLANTED > 100 * 9  # the history is far longer than the day


async def test_day_totals_are_the_days_entries_summed_with_each_post_on_its_holds_day(
        ledger: Ledger, clock: ManualClock) -> None:
    """`queries.account_day_totals` (LedgerService.SummarizeAccountDays, the city dashboard's
    reconciliation) against the day's entries as ReconcileDay sums them: a posted hold on the
    day its hold was placed (h-3 posts after midnight, counted on DAY), a reversal on its own day."""
    start, _ = await a_day_with_history(ledger, clock)
    clock.set(start + timedelta(hours=12))
    await ledger.reverse(FENGSHU, "refund-1", "h-1/post", 1, "refund")  # 1 point back out of the clearing account
    first, last = DAY - timedelta(days=1), DAY + timedelta(days=1)
    entries, _ = await queries.account_days(ledger.db, FENGSHU, REDEMPTION_CLEARING,
                                            (day_bounds(first - timedelta(days=1))[0],
                                             day_bounds(last + timedelta(days=1))[1]), 0, 1000)
    placed = {e.transfer.transfer_id: e.transfer.created_at for e in entries if e.transfer.kind == Kind.PENDING}
    expected: dict[tuple[date, Kind], list[int]] = {}
    for e in entries:
        if e.transfer.kind not in (Kind.POST, Kind.REVERSAL):
            continue
        when = placed[e.transfer.related_transfer_id] if e.transfer.kind == Kind.POST else e.transfer.created_at
        day = local_day(when)
        if first <= day <= last:
            moved = expected.setdefault((day, e.transfer.kind), [0, 0, 0])
            moved[0 if e.change > 0 else 1] += abs(e.change)
            moved[2] += 1
    got = await queries.account_day_totals(ledger.db, [FENGSHU, "cn/elsewhere"], REDEMPTION_CLEARING, first, last)
    assert {(t.day, t.kind): [t.credited, t.debited, t.transfers] for t in got} == expected
    assert expected == {(first, Kind.POST): [2, 0, 1], (DAY, Kind.POST): [4, 0, 2], (DAY, Kind.REVERSAL): [0, 1, 1],
                        (last, Kind.POST): [2, 0, 1]}
    assert {t.community_path for t in got} == {FENGSHU}
    one_day = await queries.account_day_totals(ledger.db, [FENGSHU], REDEMPTION_CLEARING, DAY, DAY)
    assert [(t.kind, t.credited, t.debited) for t in one_day] == [(Kind.POST, 4, 0), (Kind.REVERSAL, 0, 1)]
