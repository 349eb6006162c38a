"""Property test: whatever sequence of transfers, holds, posts, voids, expiries, reversals and
replays happens — with points issued unfunded and from funding sources' budgets, returned to
them and moved between volunteers — a community's posted balances sum to zero, no account but
system/issuance goes below zero (posted or available: so no funding source beyond its budget),
each account's held points equal its pending holds, each volunteer's lots add up to their
balance, and per funding source issued = outstanding + redeemed + expired + returned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from linli_points.ledger.accounts import EXPIRY, ISSUANCE, REDEMPTION_CLEARING, funding_account, volunteer_account
from linli_points.ledger.model import HoldState, Kind, TransferRequest
from linli_points.ledger.queries import funding_totals
from linli_points.ledger.store import Ledger
from linli_points.ledger.sweeper import hold_sweeper
from linli_points.ledger.tables import accounts, holds, lots, transfers

from linli_runtime.clock import ManualClock
from linli_runtime.errors import DomainError

VOLUNTEERS = [volunteer_account(f"v{i}") for i in range(3)]
volunteer = st.sampled_from(VOLUNTEERS)
fund = st.sampled_from([funding_account("fa"), funding_account("fb")])
amount = st.integers(min_value=1, max_value=40)
ref = st.integers(min_value=0, max_value=30)  # refers to an earlier id by position

operation = st.one_of(
    st.tuples(st.just("credit"), volunteer, amount),
    st.tuples(st.just("budget"), fund, st.integers(min_value=1, max_value=80)),
    st.tuples(st.just("fund_credit"), fund, volunteer, amount),
    st.tuples(st.just("return"), volunteer, fund, amount),
    st.tuples(st.just("write_off"), volunteer, amount),
    st.tuples(st.just("spend"), volunteer, amount),
    st.tuples(st.just("move"), volunteer, volunteer, amount),
    st.tuples(st.just("expire_points"), volunteer, amount),
    st.tuples(st.just("hold"), volunteer, amount, st.integers(min_value=1, max_value=120)),
    st.tuples(st.just("post"), ref),
    st.tuples(st.just("void"), ref),
    st.tuples(st.just("reverse"), ref, st.integers(min_value=0, max_value=40)),
    st.tuples(st.just("replay"), ref),
    st.tuples(st.just("tick"), st.integers(min_value=1, max_value=90)),
)


async def apply(ledger: Ledger, clock: ManualClock, path: str, ops: list[tuple[Any, ...]]) -> None:
    sent: list[TransferRequest] = []
    hold_ids: list[str] = []
    posted_ids: list[str] = []
    sweeper = hold_sweeper(ledger)

    async def record(ledger: Ledger, request: TransferRequest) -> None:
        posted_ids.append((await ledger.transfer(request)).transfer.transfer_id)
        sent.append(request)  # only accepted transfers: a refused one may be accepted on retry

    def pick(items: list[str], index: int) -> str:
        return items[index % len(items)] if items else "missing"

    for n, op in enumerate(ops):
        tid = f"op{n}"
        try:
            match op:
                case ("credit", to, points):
                    await record(ledger, TransferRequest(path, tid, ISSUANCE, to, points))
                case ("budget", to, points):
                    await record(ledger, TransferRequest(path, tid, ISSUANCE, to, points))
                case ("fund_credit", frm, to, points):
                    await record(ledger, TransferRequest(path, tid, frm, to, points))
                case ("return", frm, to, points):
                    await record(ledger, TransferRequest(path, tid, frm, to, points))
                case ("write_off", frm, points):
                    await record(ledger, TransferRequest(path, tid, frm, ISSUANCE, points))
                case ("spend", frm, points):
                    await record(ledger, TransferRequest(path, tid, frm, REDEMPTION_CLEARING, points))
                case ("move", frm, to, points) if frm != to:
                    await record(ledger, TransferRequest(path, tid, frm, to, points))
                case ("expire_points", frm, points):
                    await record(ledger, TransferRequest(path, tid, frm, EXPIRY, points))
                case ("hold", frm, points, timeout):
                    request = TransferRequest(path, tid, frm, REDEMPTION_CLEARING, points, Kind.PENDING,
                                              timeout_seconds=timeout)
                    await ledger.place_hold(request)
                    hold_ids.append(tid)
                case ("post", index):
                    resolved = await ledger.post_hold(path, pick(hold_ids, index))
                    posted_ids.append(resolved.transfer.transfer_id)
                case ("void", index):
                    await ledger.void_hold(path, pick(hold_ids, index))
                case ("reverse", index, points):
                    await ledger.reverse(path, tid, pick(posted_ids, index), points, "correction")
                    posted_ids.append(tid)
                case ("replay", index) if sent:
                    assert not (await ledger.transfer(sent[index % len(sent)])).created
                case ("tick", seconds):
                    clock.advance(seconds=seconds)
                    await sweeper.run_once()
        except DomainError:
            pass  # refusals (insufficient points, resolved holds, over-reversal) are fine
        await check_invariants(ledger, path)


async def check_invariants(ledger: Ledger, path: str) -> None:
    assert await ledger.community_sum(path) == 0
    async with ledger.db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(accounts).where(accounts.c.community_path == path))).all()
        pending = dict(
            (
                await conn.execute(
                    sa.select(transfers.c.debit_account, sa.func.sum(transfers.c.amount))
                    .select_from(holds.join(transfers, holds.c.transfer_seq == transfers.c.seq))
                    .where(holds.c.community_path == path, holds.c.state == int(HoldState.PENDING))
                    .group_by(transfers.c.debit_account)
                )
            ).all()
        )
        in_lots = dict((await conn.execute(
            sa.select(lots.c.account_id, sa.func.sum(lots.c.remaining)).where(lots.c.community_path == path)
            .group_by(lots.c.account_id))).all())
        assert all(remaining >= 0 for (remaining,) in await conn.execute(
            sa.select(lots.c.remaining).where(lots.c.community_path == path)))
        sources = await funding_totals(conn, path)
    for row in rows:
        posted = row.credits_posted - row.debits_posted
        assert row.debits_pending == int(pending.get(row.name, 0)), row
        if row.name != ISSUANCE:
            assert posted >= 0 and posted - row.debits_pending >= 0, row
        if row.name.startswith("volunteers/"):
            assert int(in_lots.get(row.id, 0)) == posted, (row, "lots must add up to the balance")
    for t in sources.values():
        assert t.issued == t.outstanding + t.redeemed + t.expired + t.returned, t
        assert t.outstanding >= 0 and t.issued >= 0, t


async def test_balances_sum_to_zero_after_any_sequence(ledger: Ledger, clock: ManualClock) -> None:
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    # Hypothesis drives the examples from a worker thread; each runs on the test's event loop
    # (where the database connections live) in a community of its own.
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(operation, min_size=5, max_size=30))
    def sequences(ops: list[tuple[Any, ...]]) -> None:
        run(apply(ledger, clock, f"chengdu/prop/c{uuid.uuid4().hex[:10]}", ops))

    await asyncio.to_thread(sequences)
