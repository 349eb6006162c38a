"""Batches in the ledger (SQLite and PostgreSQL): many transfers in one transaction, each
answered on its own — a refused one (no points, a reused id) fails alone and leaves nothing
behind while the others commit — and concurrent single transfers and holds committed together
(group commit) with the same guarantees as one at a time: replays, no overdraft."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from linli_points.ledger.accounts import ISSUANCE, REDEMPTION_CLEARING, volunteer_account
from linli_points.ledger.model import Kind, Recorded, TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.ledger.tables import transfers

from linli_runtime.errors import AlreadyExists, FailedPrecondition

from .conftest import FENGSHU
from .test_ledger import credit, hold, subjects

WAN = volunteer_account("v-wan")
LI = volunteer_account("v-li")
ZHAO = volunteer_account("v-zhao")


def move(tid: str, debit: str, to: str, amount: int) -> TransferRequest:
    return TransferRequest(FENGSHU, tid, debit, to, amount, reason="gift")


async def transfer_ids(ledger: Ledger) -> list[str]:
    async with ledger.db.engine.connect() as conn:
        return list((await conn.execute(sa.select(transfers.c.transfer_id).order_by(transfers.c.seq))).scalars())


async def test_a_batch_commits_the_good_requests_and_refuses_the_bad_ones_alone(ledger: Ledger) -> None:
    await ledger.transfer(credit("t0", WAN, 10))
    outcomes = await ledger.transfer_many([
        credit("t1", LI, 5),
        move("m1", ZHAO, LI, 1),             # Zhao has no points
        credit("t0", WAN, 11),               # t0 already names another transfer
        credit("t2", ZHAO, 7),               # a new account, opened in the batch
        move("m2", WAN, ZHAO, 10),           # all of Wan's points
        move("m3", WAN, LI, 1),              # … so none are left for this one
        credit("t0", WAN, 10),               # a replay of t0: its first result
        credit("t1", LI, 5),                 # a replay of a transfer earlier in this batch
    ])
    kinds = [type(o).__name__ if not isinstance(o, Recorded) else ("created" if o.created else "replayed")
             for o in outcomes]
    assert kinds == ["created", "FailedPrecondition", "AlreadyExists", "created", "created",
                     "FailedPrecondition", "replayed", "replayed"]
    no_points, reused, overdraft = outcomes[1], outcomes[2], outcomes[5]
    assert isinstance(no_points, FailedPrecondition) and no_points.reason == "INSUFFICIENT_POINTS"
    assert isinstance(reused, AlreadyExists) and reused.reason == "TRANSFER_ID_REUSED"
    assert isinstance(overdraft, FailedPrecondition) and "0 points available" in str(overdraft)
    balances = {a: (await ledger.balance(FENGSHU, a)).balance for a in (WAN, LI, ZHAO)}
    assert balances == {WAN: 0, LI: 5, ZHAO: 17}
    assert await ledger.community_sum(FENGSHU) == 0
    # The refused ones left nothing behind: no transfer, no event.
    assert await transfer_ids(ledger) == ["t0", "t1", "t2", "m2"]
    assert await subjects(ledger) == ["points.points.credited"] * 3


async def test_concurrent_single_transfers_are_committed_together_each_answered_alone(ledger: Ledger) -> None:
    await ledger.transfer(credit("seed", WAN, 20))
    batches: list[int] = []
    run_each = ledger.group_commit.run_each

    async def counting(works):  # type: ignore[no-untyped-def]
        batches.append(len(works))
        return await run_each(works)

    ledger.group_commit.run_each = counting
    calls = [ledger.transfer(move(f"spend{i}", WAN, LI, 3)) for i in range(10)]  # 30 asked, 20 held
    calls += [ledger.transfer(credit(f"c{i}", ZHAO, 1)) for i in range(5)]
    calls += [ledger.transfer(credit("seed", WAN, 21))]  # an id reused with another amount
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    spent = [o for o in outcomes[:10] if isinstance(o, Recorded)]
    refused = [o for o in outcomes[:10] if isinstance(o, FailedPrecondition)]
    assert (len(spent), len(refused)) == (6, 4), "6 × 3 of 20 points; the rest refused, never overdrawn"
    assert all(isinstance(o, Recorded) and o.created for o in outcomes[10:15])
    assert isinstance(outcomes[15], AlreadyExists)
    assert max(batches) > 1, f"concurrent calls shared a transaction: {batches}"
    assert sum(batches) == 16
    assert (await ledger.balance(FENGSHU, WAN)).balance == 2
    assert (await ledger.balance(FENGSHU, ZHAO)).balance == 5
    assert await ledger.community_sum(FENGSHU) == 0


async def test_concurrent_holds_in_one_batch_never_overdraw_and_replay(ledger: Ledger) -> None:
    await ledger.transfer(credit("seed", WAN, 10))
    outcomes = await asyncio.gather(*(ledger.place_hold(hold(f"h{i}", 4)) for i in range(4)),
                                    ledger.place_hold(hold("h0", 4)), return_exceptions=True)
    placed = [o for o in outcomes[:4] if isinstance(o, tuple)]
    assert len(placed) == 2 and all(created for _, created in placed)
    assert sum(isinstance(o, FailedPrecondition) for o in outcomes[:4]) == 2
    replay = outcomes[4]
    if isinstance(replay, tuple):  # h0 was one of the two placed: its replay returns it
        assert not replay[1] and replay[0].hold_id == "h0"
    else:  # h0 was refused: so is its repeat, for the same reason
        assert isinstance(replay, FailedPrecondition)
    balance = await ledger.balance(FENGSHU, WAN)
    assert (balance.balance, balance.available) == (10, 2)


async def test_a_hold_batched_with_transfers_is_posted_once(ledger: Ledger) -> None:
    amount = 3
    await ledger.transfer(credit("seed", WAN, 10))
    (placed, _), recorded = await asyncio.gather(ledger.place_hold(hold("h1", amount)),
                                                 ledger.transfer(credit("more", WAN, 1)))
    assert recorded.created and placed.transfer.kind == Kind.PENDING
    await ledger.post_hold(FENGSHU, "h1")
    assert (await ledger.balance(FENGSHU, WAN)).balance == 11 - amount
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == amount
    assert (await ledger.balance(FENGSHU, ISSUANCE)).balance == -11


async def test_a_request_refused_after_writing_is_rolled_back_alone(ledger: Ledger) -> None:
    """The ledger refuses before it writes, so a batch runs without a savepoint per request;
    should a request ever be refused after writing, the batch runs again with savepoints and
    that request alone leaves nothing behind."""

    async def writes_then_refuses(conn):  # type: ignore[no-untyped-def]
        await ledger.transfer_in(conn, credit("late", LI, 4))
        raise FailedPrecondition("refused after writing", reason="TEST_LATE_REFUSAL")

    outcomes = await ledger.run_each([lambda conn: ledger.transfer_in(conn, credit("a", WAN, 1)),
                                      writes_then_refuses,
                                      lambda conn: ledger.transfer_in(conn, credit("b", ZHAO, 2))])
    assert isinstance(outcomes[0], Recorded) and isinstance(outcomes[2], Recorded)
    assert isinstance(outcomes[1], FailedPrecondition)
    assert await transfer_ids(ledger) == ["a", "b"]
    assert (await ledger.balance(FENGSHU, LI)).balance == 0
    assert await ledger.community_sum(FENGSHU) == 0
