"""ReconcileDay reads three days of the clearing account (the eve, the day, the morrow) instead
of its whole history: over a month of redemptions — holds posted minutes to nearly a day after
they were placed, across midnight, voided holds, refunds' reversals — every day's ledger
movements are the same from those three days as from the whole history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from linli_redemption.points import ClearingDay, ClearingEntry, Transfer, TransferKind, post_transfer_id
from linli_redemption.redemption_rules import ledger_day
from linli_redemption.settlement import balances, ledger_movements

START = datetime(2026, 3, 1, tzinfo=UTC)
MAX_HOLD = timedelta(days=1)  # the ledger's longest hold (volunteer-points' MAX_HOLD_SECONDS)


def month_of_redemptions(seed: int) -> list[ClearingEntry]:
    rng = random.Random(seed)
    entries: list[tuple[datetime, ClearingEntry]] = []
    for n in range(600):
        placed = START + timedelta(seconds=rng.randrange(30 * 86_400))
        amount = rng.randrange(1, 50)
        hold = f"h-{n}"
        entries.append((placed, ClearingEntry(Transfer(hold, TransferKind.PENDING, amount, placed), 0)))
        fate = rng.random()
        resolved = placed + rng.choice([timedelta(seconds=rng.randrange(1, 600)),
                                        timedelta(seconds=rng.randrange(1, int(MAX_HOLD.total_seconds())))])
        if fate < 0.8:
            entries.append((resolved, ClearingEntry(Transfer(post_transfer_id(hold), TransferKind.POST, amount,
                                                             resolved), amount)))
            if fate < 0.2:  # refunded days later: a reversal out of the clearing account
                back = resolved + timedelta(seconds=rng.randrange(1, 7 * 86_400))
                entries.append((back, ClearingEntry(Transfer(f"rf-{n}", TransferKind.REVERSAL, amount // 2 + 1,
                                                             back), -(amount // 2 + 1))))
        else:
            entries.append((resolved, ClearingEntry(Transfer(f"{hold}/void", TransferKind.VOID, amount,
                                                             resolved), 0)))
    return [e for _, e in sorted(entries, key=lambda pair: pair[0])]


def test_three_days_of_rows_give_every_days_movements_as_the_whole_history_does() -> None:
    for seed in range(3):
        history = month_of_redemptions(seed)
        days = sorted({ledger_day(e.transfer.create_time) for e in history})
        moved_days = 0
        for i, day in enumerate(days[1:-1], start=1):
            window = [e for e in history if days[i - 1] <= ledger_day(e.transfer.create_time) <= days[i + 1]]
            whole = ledger_movements(history, day)
            assert ledger_movements(window, day) == whole, day
            moved_days += bool(whole)
        assert moved_days > 25


def test_a_hold_placed_just_before_midnight_counts_on_its_day_though_posted_the_next() -> None:
    placed = datetime(2026, 3, 9, 15, 59, 30, tzinfo=UTC)  # 23:59:30 in China
    posted = placed + timedelta(minutes=1)
    history = [ClearingEntry(Transfer("h", TransferKind.PENDING, 7, placed), 0),
               ClearingEntry(Transfer(post_transfer_id("h"), TransferKind.POST, 7, posted), 7)]
    assert ledger_movements(history, "2026-03-09") == {post_transfer_id("h"): 7}
    assert ledger_movements(history, "2026-03-10") == {}


def test_totals_with_each_post_on_its_holds_day_are_reconcile_days_totals() -> None:
    """The city dashboard's rule (LedgerService.SummarizeAccountDays: a posted hold counts on the
    day its hold was placed, a reversal on its own) gives every day the totals ReconcileDay sums
    from the day's movements; `balances` lists a day whose totals differ from the records'."""
    entries = month_of_redemptions(7)
    placed = {e.transfer.transfer_id: e.transfer.create_time for e in entries
              if e.transfer.kind == TransferKind.PENDING}
    by_rule: dict[str, list[int]] = {}
    for e in entries:
        if e.transfer.kind == TransferKind.POST:
            day = ledger_day(placed[e.transfer.transfer_id.removesuffix(post_transfer_id(""))])
        elif e.transfer.kind == TransferKind.REVERSAL:
            day = ledger_day(e.transfer.create_time)
        else:
            continue
        by_rule.setdefault(day, [0, 0])[0 if e.change > 0 else 1] += abs(e.change)
    days = sorted({ledger_day(e.transfer.create_time) for e in entries})
    for day in days:
        moved = ledger_movements(entries, day).values()
        assert by_rule.get(day, [0, 0]) == [sum(v for v in moved if v > 0), -sum(v for v in moved if v < 0)], day
    ledger = [ClearingDay("cn/c", day, redeemed, refunded) for day, (redeemed, refunded) in by_rule.items()]
    recorded = {("cn/c", day): list(totals) for day, totals in by_rule.items()}
    assert [b for b in balances(recorded, ledger) if not b.balanced] == []
    recorded[("cn/c", days[3])][1] += 1  # a refund recorded that the ledger never moved
    recorded[("cn/d", days[0])] = [5, 0]  # redemptions in a community whose clearing account saw nothing
    assert [(b.community_path, b.date, b.recorded_refunded_points - b.ledger_refunded_points,
             b.ledger_redeemed_points) for b in balances(recorded, ledger) if not b.balanced] == [
        ("cn/c", days[3], 1, by_rule[days[3]][0]), ("cn/d", days[0], 0, 0)]
