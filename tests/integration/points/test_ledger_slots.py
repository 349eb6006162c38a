"""System accounts keep their totals in slot rows (see linli_points.ledger.tables): their
balances, limits, history and the community's sum to zero stay exact under concurrency, and
the migrations build exactly the tables the code uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from linli_points.app import MIGRATIONS
from linli_points.ledger.accounts import ISSUANCE, REDEMPTION_CLEARING, volunteer_account
from linli_points.ledger.model import Kind, TransferRequest
from linli_points.ledger.store import SLOTS, Ledger
from linli_points.ledger.tables import account_slots, accounts, transfers

from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition
from linli_runtime.migrations import upgrade

from .conftest import FENGSHU

VOLUNTEERS = [volunteer_account(f"v-{i:02d}") for i in range(20)]


async def slot_rows(ledger: Ledger, name: str) -> list[tuple[int, int, int]]:
    async with ledger.db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(  # type: ignore[misc]
            sa.select(account_slots.c.slot, account_slots.c.credits_posted, account_slots.c.credits_pending)
            .join(accounts, accounts.c.id == account_slots.c.account_id)
            .where(accounts.c.community_path == FENGSHU, accounts.c.name == name))]


async def test_concurrent_holds_and_posts_of_many_volunteers_add_up_in_the_clearing_slots(ledger: Ledger) -> None:
    for i, v in enumerate(VOLUNTEERS):
        await ledger.transfer(TransferRequest(FENGSHU, f"fund-{i}", ISSUANCE, v, 100))

    async def redeem(i: int, v: str, n: int) -> None:
        hold_id = f"h-{i}-{n}"
        await ledger.place_hold(TransferRequest(FENGSHU, hold_id, v, REDEMPTION_CLEARING, 3, Kind.PENDING,
                                                timeout_seconds=300))
        if n % 3 == 2:
            await ledger.void_hold(FENGSHU, hold_id)
        else:
            await ledger.post_hold(FENGSHU, hold_id)

    await asyncio.gather(*(redeem(i, v, n) for i, v in enumerate(VOLUNTEERS) for n in range(6)))
    clearing = await ledger.balance(FENGSHU, REDEMPTION_CLEARING)
    assert (clearing.balance, clearing.held) == (20 * 4 * 3, 0)
    assert [(await ledger.balance(FENGSHU, v)).available for v in VOLUNTEERS] == [100 - 12] * 20
    assert (await ledger.balance(FENGSHU, ISSUANCE)).balance == -2000
    assert await ledger.community_sum(FENGSHU) == 0
    rows = await slot_rows(ledger, REDEMPTION_CLEARING)
    assert 1 < len(rows) <= SLOTS  # spread over slots …
    assert sum(r[1] for r in rows) == 240 and sum(r[2] for r in rows) == 0  # … that add up
    async with ledger.db.engine.connect() as conn:  # the system side stores no balance after
        stored = (await conn.execute(sa.select(transfers.c.credit_balance_after, transfers.c.debit_balance_after)
                                     .where(transfers.c.transfer_id == "h-0-0"))).one()
    assert stored[0] is None and stored[1] in (100, 97, 94, 91)  # the volunteer's: before or after others' posts


async def test_a_limited_system_account_is_never_overdrawn_by_concurrent_debits(ledger: Ledger) -> None:
    await ledger.transfer(TransferRequest(FENGSHU, "fund", ISSUANCE, VOLUNTEERS[0], 10))
    await ledger.transfer(TransferRequest(FENGSHU, "spend", VOLUNTEERS[0], REDEMPTION_CLEARING, 10))

    async def pay_back(i: int) -> bool:
        try:
            await ledger.transfer(TransferRequest(FENGSHU, f"back-{i}", REDEMPTION_CLEARING, VOLUNTEERS[1 + i % 5], 1))
        except FailedPrecondition as refusal:
            assert refusal.reason == "INSUFFICIENT_POINTS"
            return False
        return True

    results = await asyncio.gather(*(pay_back(i) for i in range(30)))
    assert sum(results) == 10
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 0
    assert await ledger.community_sum(FENGSHU) == 0


async def test_history_of_a_slot_account_has_a_running_balance_across_pages(ledger: Ledger) -> None:
    await ledger.transfer(TransferRequest(FENGSHU, "fund", ISSUANCE, VOLUNTEERS[0], 50))
    for n in range(5):
        await ledger.place_hold(TransferRequest(FENGSHU, f"h{n}", VOLUNTEERS[0], REDEMPTION_CLEARING, n + 1,
                                                Kind.PENDING, timeout_seconds=300))
        await ledger.post_hold(FENGSHU, f"h{n}")
    await ledger.reverse(FENGSHU, "refund", "h4/post", 2, "refund")
    seen, after = [], 0
    while True:
        page, after = await ledger.history(FENGSHU, REDEMPTION_CLEARING, after, 3)
        seen += [(e.change, e.balance_after) for e in page]
        if not after:
            break
    assert seen == [(0, 0), (1, 1), (0, 1), (2, 3), (0, 3), (3, 6), (0, 6), (4, 10), (0, 10), (5, 15), (-2, 13)]
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 13
    issuance, _ = await ledger.history(FENGSHU, ISSUANCE, 0, 10)
    assert [(e.change, e.balance_after) for e in issuance] == [(-50, -50)]


async def test_a_hold_on_a_system_account_is_checked_against_its_slots(ledger: Ledger) -> None:
    await ledger.transfer(TransferRequest(FENGSHU, "fund", ISSUANCE, VOLUNTEERS[0], 10))
    await ledger.transfer(TransferRequest(FENGSHU, "spend", VOLUNTEERS[0], REDEMPTION_CLEARING, 10))
    await ledger.place_hold(TransferRequest(FENGSHU, "ch", REDEMPTION_CLEARING, VOLUNTEERS[1], 7, Kind.PENDING,
                                            timeout_seconds=300))
    with pytest.raises(FailedPrecondition):
        await ledger.place_hold(TransferRequest(FENGSHU, "ch2", REDEMPTION_CLEARING, VOLUNTEERS[1], 4,
                                                Kind.PENDING, timeout_seconds=300))
    balance = await ledger.balance(FENGSHU, REDEMPTION_CLEARING)
    assert (balance.balance, balance.held, balance.available) == (10, 7, 3)
    await ledger.void_hold(FENGSHU, "ch")
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).available == 10


async def test_totals_kept_in_the_row_before_slots_existed_still_count(ledger: Ledger) -> None:
    """p0005 moves no data: what a system account's row held stays part of its totals."""
    await ledger.transfer(TransferRequest(FENGSHU, "fund", ISSUANCE, VOLUNTEERS[0], 10))
    async with ledger.db.engine.begin() as conn:  # as if written before the upgrade
        await conn.execute(accounts.update().where(accounts.c.name == ISSUANCE).values(debits_posted=5))
    assert (await ledger.balance(FENGSHU, ISSUANCE)).balance == -15
    assert await ledger.community_sum(FENGSHU) == -5


async def test_a_system_account_created_by_a_rolled_back_transaction_is_not_remembered(ledger: Ledger) -> None:
    """Slot accounts' rows are cached (`_lock`) only once the transaction that read them
    committed: a row created and rolled back must not be used later."""

    async def created_then_refused(conn: object) -> None:
        await ledger.transfer_in(conn, TransferRequest(FENGSHU, "t1", ISSUANCE, VOLUNTEERS[0], 5))  # type: ignore[arg-type]
        await ledger.transfer_in(conn, TransferRequest(FENGSHU, "t2", ISSUANCE, VOLUNTEERS[0], 5))  # type: ignore[arg-type]
        raise FailedPrecondition("changed my mind")

    with pytest.raises(FailedPrecondition):
        await ledger.run(created_then_refused)  # type: ignore[arg-type]
    await ledger.transfer(TransferRequest(FENGSHU, "t3", ISSUANCE, VOLUNTEERS[0], 7))
    await ledger.transfer(TransferRequest(FENGSHU, "t4", ISSUANCE, VOLUNTEERS[0], 1))
    assert (await ledger.balance(FENGSHU, ISSUANCE)).balance == -8
    assert await ledger.community_sum(FENGSHU) == 0


async def test_upgrading_a_ledger_with_open_holds_keeps_every_balance_and_downgrades_back(database_url: str) -> None:
    """p0005 on a database p0004 filled (a credit, an open hold): balances and the sum to zero
    hold across the upgrade (SQLite rebuilds points_transfer, setting points_hold aside), the
    hold posts afterwards, and downgrading folds the slots back into the rows."""
    from datetime import UTC, datetime, timedelta

    from alembic import command

    from linli_runtime.clock import SystemClock
    from linli_runtime.migrations import RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE, MigrationSet, alembic_config

    def to(target: str, migrations: MigrationSet = MIGRATIONS) -> Any:
        return lambda sync: command.upgrade(alembic_config(migrations, sync), target)

    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(to("head", MigrationSet(RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE)))
            await conn.run_sync(to("p0004"))
        now = datetime.now(UTC)
        async with db.engine.begin() as conn:  # what the code before p0005 wrote
            def account(id: int, name: str, **totals: Any) -> dict[str, Any]:
                zero = dict.fromkeys(("debits_posted", "credits_posted", "debits_pending", "credits_pending",
                                      "earned"), 0)
                return dict(id=id, community_path=FENGSHU, name=name, allow_negative=name == ISSUANCE,
                            created_at=now, **{**zero, **totals})

            await conn.execute(accounts.insert(), [
                account(1, ISSUANCE, debits_posted=10),
                account(2, VOLUNTEERS[0], credits_posted=10, debits_pending=4, earned=10),
                account(3, REDEMPTION_CLEARING, credits_pending=4)])
            await conn.execute(transfers.insert(), [
                dict(seq=1, community_path=FENGSHU, transfer_id="t1", kind=int(Kind.DIRECT), debit_account_id=1,
                     credit_account_id=2, debit_account=ISSUANCE, credit_account=VOLUNTEERS[0], amount=10,
                     fingerprint="x", debit_balance_after=-10, credit_balance_after=10, created_at=now),
                dict(seq=2, community_path=FENGSHU, transfer_id="h1", kind=int(Kind.PENDING), debit_account_id=2,
                     credit_account_id=3, debit_account=VOLUNTEERS[0], credit_account=REDEMPTION_CLEARING, amount=4,
                     fingerprint="y", debit_balance_after=10, credit_balance_after=0, created_at=now)])
            await conn.execute(sa.text("INSERT INTO points_hold (transfer_seq, community_path, hold_id, state, "
                                       "expires_at) VALUES (2, :path, 'h1', 1, :until)"),
                               {"path": FENGSHU, "until": now + timedelta(hours=1)})
            if conn.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
                for table, column in (("points_account", "id"), ("points_transfer", "seq")):
                    await conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                               f"(SELECT max({column}) FROM {table}))"))
        await upgrade(db, MIGRATIONS)
        ledger = Ledger(db, SystemClock())
        await ledger.post_hold(FENGSHU, "h1")
        assert (await ledger.balance(FENGSHU, VOLUNTEERS[0])).balance == 6
        clearing = await ledger.balance(FENGSHU, REDEMPTION_CLEARING)
        assert (clearing.balance, clearing.held) == (4, 0)
        assert await ledger.community_sum(FENGSHU) == 0
        history, _ = await ledger.history(FENGSHU, REDEMPTION_CLEARING, 0, 10)
        assert [(e.transfer.transfer_id, e.balance_after) for e in history] == [("h1", 0), ("h1/post", 4)]
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(MIGRATIONS, sync), "p0004"))
            rows = {r.name: (r.credits_posted, r.credits_pending) for r in await conn.execute(sa.select(accounts))}
            holds = (await conn.execute(sa.text("SELECT count(*) FROM points_hold"))).scalar_one()
        assert rows[REDEMPTION_CLEARING] == (4, 0) and holds == 1
    finally:
        await db.dispose()
