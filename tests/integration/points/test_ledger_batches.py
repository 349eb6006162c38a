"""Batches in the ledger (SQLite and PostgreSQL): many transfers in one transaction, each
answered on its own — a refused one (no points, a reused id) fails alone and leaves nothing
behind while the others commit — and concurrent single transfers and holds committed together
(group commit) with the same guarantees as one at a time: replays, no overdraft."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from linli_points.app import PointsApp
from linli_points.ledger import batch, queries
from linli_points.ledger.accounts import EXPIRY, ISSUANCE, REDEMPTION_CLEARING, funding_account, volunteer_account
from linli_points.ledger.batch import BatchItem
from linli_points.ledger.model import Kind, Recorded, TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.ledger.tables import accounts, holds, lot_uses, lots, transfers

from linli.events.v1 import points_pb2 as points_events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.points.v1 import ledger_pb2, ledger_pb2_grpc
from linli_runtime.bulk import COPY_FROM
from linli_runtime.clock import ManualClock
from linli_runtime.errors import AlreadyExists, DomainError, FailedPrecondition
from linli_runtime.events.streams import POINTS
from linli_runtime.events.tables import OUTBOX
from linli_runtime.testing.published import published_envelopes
from linli_runtime.testing.waiting import wait_until
from linli_runtime.times import as_utc

from .conftest import FENGSHU, Metadata
from .test_ledger import credit, hold, subjects

LedgerStub = ledger_pb2_grpc.LedgerServiceStub
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
    # t0 alone; t1, t2 (the batch's two credits) in one event.
    assert await subjects(ledger) == ["points.points.credited", "points.points.credited_batch"]
    assert [c.transfer_id for c in await credits_published(ledger)] == ["t0", "t1", "t2"]


async def credits_published(ledger: Ledger) -> list[points_events.PointsCredited]:
    """The credits in the outbox, in order, whether published alone or in batch events."""
    out: list[points_events.PointsCredited] = []
    async with ledger.db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(OUTBOX.c.subject, OUTBOX.c.data).order_by(OUTBOX.c.seq))).all()
    for subject, data in rows:
        envelope = EventEnvelope.FromString(data)
        if subject == "points.points.credited_batch":
            many = points_events.PointsCreditedBatch()
            assert envelope.payload.Unpack(many)
            out.extend(many.items)
        elif subject == "points.points.credited":
            one = points_events.PointsCredited()
            assert envelope.payload.Unpack(one)
            out.append(one)
    return out


async def test_a_bulk_batch_publishes_its_credits_in_events_of_at_most_credits_per_event(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One event per CREDITS_PER_EVENT credits of a call (here 2), in the call's order, each
    envelope with its own id; a hold still has its own event."""
    monkeypatch.setattr(batch, "CREDITS_PER_EVENT", 2)
    outcomes = await ledger.apply_batch([BatchItem(r) for r in (
        credit("c1", WAN, 1), credit("c2", LI, 2), hold("h1", 1), credit("c3", ZHAO, 3), credit("c4", WAN, 4),
        credit("c5", LI, 5))])
    assert not [o for o in outcomes if isinstance(o, DomainError)]
    assert await subjects(ledger) == ["points.hold.placed"] + ["points.points.credited_batch"] * 3
    credited = await credits_published(ledger)
    assert [(c.transfer_id, c.volunteer_id, c.points) for c in credited] == [
        ("c1", "v-wan", 1), ("c2", "v-li", 2), ("c3", "v-zhao", 3), ("c4", "v-wan", 4), ("c5", "v-li", 5)]
    async with ledger.db.engine.connect() as conn:
        data = (await conn.execute(sa.select(OUTBOX.c.data))).scalars().all()
    envelopes = [EventEnvelope.FromString(d) for d in data]
    assert len({e.event_id for e in envelopes}) == 4
    assert all(e.org_scope == FENGSHU for e in envelopes)


@pytest.mark.parametrize("made_before", [1, 10_000], ids=["payloads-made-before", "payloads-made-after"])
async def test_a_batch_publishes_each_credit_it_records_once_whatever_it_refuses_or_repeats(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, made_before: int
) -> None:
    """A big batch's credit events are made before its lock on the guess that every credit is
    recorded (batch.credit_payloads): when some are not — replayed, repeated in the batch,
    refused — its events still carry exactly the credits it recorded, in order, once each."""
    monkeypatch.setattr(batch, "CREDITS_PER_EVENT", 3)
    monkeypatch.setattr(ledger, "CREDITS_MADE_BEFORE", made_before)
    first = [credit(f"a{i}", WAN if i % 2 else LI, i + 1) for i in range(5)]
    assert all(isinstance(o, Recorded) and o.created for o in await ledger.apply_batch([BatchItem(r) for r in first]))
    # Stored before, repeated within, an id reused for another request, a hold among them.
    second = [credit("b0", WAN, 1), first[1], credit("b1", LI, 2), credit("b1", LI, 2), credit("a2", ZHAO, 9),
              hold("h1", 1), credit("b2", ZHAO, 3)]
    outcomes = await ledger.apply_batch([BatchItem(r) for r in second])
    assert [o.created if isinstance(o, Recorded) else type(o).__name__ for o in outcomes] == [
        True, False, True, False, "AlreadyExists", "tuple", True]
    credited = await credits_published(ledger)
    assert [(c.transfer_id, c.volunteer_id, c.points, c.reason, c.source) for c in credited] == [
        (r.transfer_id, r.credit_account.removeprefix("volunteers/"), r.amount, "governance", "activities/a1")
        for r in [*first, second[0], second[2], second[6]]]
    assert all(not c.funding_source for c in credited)  # issued from system/issuance: unfunded


async def test_concurrent_single_transfers_are_committed_together_each_answered_alone(ledger: Ledger) -> None:
    await ledger.transfer(credit("seed", WAN, 20))
    batches: list[int] = []
    run_each = ledger.group_commit.run

    async def counting(works):  # type: ignore[no-untyped-def]
        batches.append(len(works))
        return await run_each(works)

    ledger.group_commit.run = counting
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


# -- the set-oriented batch (ledger/batch.py) against the one-at-a-time path --------------------

OTHER = "chengdu/jinjiang/chenglonglu/fengshu-batch"
F1, F2 = funding_account("f1"), funding_account("f2")


def mixed_requests(path: str) -> list[TransferRequest]:
    """Funded and unfunded credits, moves, returns, redemptions, a hold, refusals of every kind
    the ledger makes: what a batch must record exactly as one request after another would."""

    def t(tid: str, debit: str, to: str, amount: int, kind: Kind = Kind.DIRECT, **more: Any) -> TransferRequest:
        return TransferRequest(path, tid, debit, to, amount, kind, reason=more.pop("reason", "gift"), **more)

    return [
        t("budget1", ISSUANCE, F1, 100), t("budget2", ISSUANCE, F2, 50),
        t("c1", F1, WAN, 30), t("c2", F2, WAN, 20), t("c3", ISSUANCE, WAN, 10),
        t("m1", WAN, LI, 25),                     # Wan's oldest points: 25 of f1's
        t("r1", LI, F2, 5),                       # Li holds no f2 points: SOURCE_POINTS_SHORT
        t("r2", LI, F1, 5),                       # back to f1, from f1's points
        t("r3", WAN, ISSUANCE, 8),                # back to issuance: unfunded points first
        t("spend", WAN, REDEMPTION_CLEARING, 12),  # oldest first: f1's 5, then f2's
        t("h1", WAN, REDEMPTION_CLEARING, 3, Kind.PENDING, timeout_seconds=60),
        t("h2", WAN, REDEMPTION_CLEARING, 99, Kind.PENDING, timeout_seconds=60),  # no points
        t("c4", F2, ZHAO, 40),                    # f2 has 30 left: FUNDING_BUDGET_EXHAUSTED
        t("back", REDEMPTION_CLEARING, ZHAO, 2),  # out of the clearing account: given back unfunded
        t("late", EXPIRY, LI, 1),                 # the expiry account holds nothing
        t("m2", ZHAO, WAN, 2),
        t("c1", F1, WAN, 30),                     # a replay
        t("c2", F2, WAN, 21),                     # an id reused for another request
        t("h1", WAN, REDEMPTION_CLEARING, 3, Kind.PENDING, timeout_seconds=60),  # a hold's replay
        t("spend2", LI, REDEMPTION_CLEARING, 20),  # all Li has left
        t("spend3", LI, REDEMPTION_CLEARING, 1),
    ]


async def one_by_one(ledger: Ledger, requests: list[TransferRequest]) -> list[str]:
    outcomes = []
    for r in requests:
        try:
            if r.kind == Kind.PENDING:
                _, created = await ledger.place_hold(r)
            else:
                created = (await ledger.run(lambda conn, r=r: ledger.transfer_in(conn, r))).created
            outcomes.append("created" if created else "replayed")
        except DomainError as error:
            outcomes.append(error.reason)
    return outcomes


async def ledger_state(ledger: Ledger, path: str) -> dict[str, Any]:
    """Everything the ledger keeps about a community, without what differs between two
    communities by construction (seqs are compared by rank, ids by name)."""
    async with ledger.db.engine.connect() as conn:
        ts = (await conn.execute(sa.select(transfers).where(transfers.c.community_path == path)
                                 .order_by(transfers.c.seq))).all()
        rank = {row.seq: i for i, row in enumerate(ts)}
        names = dict((await conn.execute(sa.select(accounts.c.id, accounts.c.name)
                                         .where(accounts.c.community_path == path))).all())
        lot_rows = (await conn.execute(sa.select(lots).where(lots.c.community_path == path))).all()
        use_rows = (await conn.execute(sa.select(lot_uses).where(lot_uses.c.community_path == path)
                                       .order_by(lot_uses.c.id))).all()
        hold_rows = (await conn.execute(sa.select(holds).where(holds.c.community_path == path))).all()
        funding = await queries.funding_totals(conn, path)
        events = (await conn.execute(sa.select(OUTBOX.c.subject, OUTBOX.c.data).order_by(OUTBOX.c.seq))).all()
    payloads = []
    for subject, data in events:
        envelope = EventEnvelope.FromString(data)
        if envelope.org_scope == path:
            if subject == "points.points.credited_batch":  # compared credit by credit with the single ones
                many = points_events.PointsCreditedBatch()
                assert envelope.payload.Unpack(many)
                parts: list[tuple[str, Any]] = [("points.points.credited", c) for c in many.items]
            else:
                payload = points_events.PointsCredited() if subject == "points.points.credited" \
                    else points_events.PointsHoldChanged()
                assert envelope.payload.Unpack(payload)
                parts = [(subject, payload)]
            for part_subject, part in parts:
                part.community_path = ""
                payloads.append((part_subject, str(part)))
    balances = {name: await ledger.balance(path, name) for name in sorted(names.values())}
    return {
        "transfers": [(r.transfer_id, r.kind, names[r.debit_account_id], names[r.credit_account_id], r.amount,
                       r.reason, r.fingerprint == TransferRequest(
                           path, r.transfer_id, r.debit_account, r.credit_account, r.amount, Kind(r.kind),
                           r.reason, r.source, r.related_transfer_id,
                           60 if r.kind == Kind.PENDING else 0).fingerprint(),
                       r.debit_balance_after, r.credit_balance_after) for r in ts],
        "lots": sorted((names[r.account_id], rank.get(r.seq, -1), r.source, r.origin, r.amount, r.remaining)
                       for r in lot_rows),
        "uses": [(rank[r.transfer_seq], names[r.account_id], rank.get(r.lot_seq, r.lot_seq), r.source, r.flow,
                  r.amount) for r in use_rows],
        "holds": sorted((r.hold_id, r.state) for r in hold_rows),
        # An account a refused request opened holds nothing: no account (accounts open on first use).
        "balances": {n: (b.balance, b.held, b.earned) for n, b in balances.items() if (b.balance, b.held, b.earned)
                     != (0, 0, 0)},
        "funding": {s: vars(t) for s, t in funding.items()},
        # A batch publishes its credits after its holds, in batch events: the same events, by content.
        "events": sorted(payloads),
    }


async def test_a_batch_records_what_one_request_after_another_would(ledger: Ledger) -> None:
    """Balances, balances after, lots and their uses, holds, the funding report and the events of
    a mixed batch are those of the same requests made one at a time (another community)."""
    alone = await one_by_one(ledger, mixed_requests(OTHER))
    outcomes = await ledger.apply_batch([BatchItem(r) for r in mixed_requests(FENGSHU)])
    batched = [o.reason if isinstance(o, DomainError) else
               ("created" if (o.created if isinstance(o, Recorded) else o[1]) else "replayed") for o in outcomes]
    assert batched == alone
    assert alone == [
        "created", "created", "created", "created", "created", "created", "SOURCE_POINTS_SHORT", "created",
        "created", "created", "created", "INSUFFICIENT_POINTS", "FUNDING_BUDGET_EXHAUSTED", "created",
        "INSUFFICIENT_POINTS", "created", "replayed", "TRANSFER_ID_REUSED", "replayed", "created",
        "INSUFFICIENT_POINTS"]
    batch_state, alone_state = await ledger_state(ledger, FENGSHU), await ledger_state(ledger, OTHER)
    assert batch_state == alone_state
    # Wan: 60 credited, 25 moved to Li, 8 returned, 12 spent, 2 back from Zhao; 3 held; earned 60 - 8.
    assert batch_state["balances"][WAN] == (17, 3, 52)
    assert batch_state["funding"]["f1"]["redeemed"] + batch_state["funding"]["f2"]["redeemed"] > 0
    assert await ledger.community_sum(FENGSHU) == 0


def like_credits(path: str) -> list[TransferRequest]:
    """Runs of credits of one source to one account, broken by other sources and origins and
    by points taken out between them: what a batch writes as one lot per run."""

    def t(tid: str, debit: str, to: str, amount: int) -> TransferRequest:
        return TransferRequest(path, tid, debit, to, amount, reason="gift")

    return [
        t("budget1", ISSUANCE, F1, 100), t("budget2", ISSUANCE, F2, 50),
        t("a1", F1, WAN, 10), t("a2", F1, WAN, 20),      # one f1 lot
        t("give", WAN, LI, 15),                           # taken from it (Li's MOVED lot)
        t("a3", F1, WAN, 8),                              # added to what is left of it
        t("b1", F2, WAN, 5), t("a4", F1, WAN, 7),         # f2 between: a new f1 lot after it
        t("u1", ISSUANCE, WAN, 3), t("u2", ISSUANCE, WAN, 4),  # one unfunded lot
        t("l1", F1, LI, 6), t("l2", F1, LI, 6),           # after Li's MOVED lot: one ISSUED lot
    ]


def later_requests(path: str) -> list[TransferRequest]:
    """After the batch, one at a time: what reads the lots oldest first."""
    return [
        TransferRequest(path, "back", WAN, F1, 40, reason="gift"),  # f1's points only: Wan holds 30
        TransferRequest(path, "back2", WAN, F1, 30, reason="gift"),
        TransferRequest(path, "spend", WAN, REDEMPTION_CLEARING, 9, reason="gift"),  # oldest first
        TransferRequest(path, "spend2", LI, REDEMPTION_CLEARING, 16, reason="gift"),
    ]


def by_source(state: dict[str, Any]) -> dict[str, Any]:
    """`ledger_state` with lots and uses summed per account, source and origin or flow: what a
    lot per run of like credits keeps of a lot per credit (the seq is the run's first)."""
    lots_of: dict[tuple[str, str, int], list[int]] = {}
    for name, _, source, origin, amount, remaining in state["lots"]:
        total = lots_of.setdefault((name, source, origin), [0, 0])
        total[0] += amount
        total[1] += remaining
    uses: dict[tuple[int, str, str, int], int] = {}
    for rank, name, _, source, flow, amount in state["uses"]:
        uses[(rank, name, source, flow)] = uses.get((rank, name, source, flow), 0) + amount
    return {**state, "lots": lots_of, "uses": uses}


async def test_a_batch_keeps_a_lot_per_run_of_like_credits_and_answers_oldest_first_alike(
        ledger: Ledger, clock: ManualClock) -> None:
    """A batch writes one lot for each run of credits of one source and origin to one account
    (not one per credit); what is taken from them later — returns to a source, spending oldest
    first, expiry — is answered as after the same credits one at a time."""
    alone = await one_by_one(ledger, like_credits(OTHER))
    outcomes = await ledger.transfer_many(like_credits(FENGSHU))
    assert all(isinstance(o, Recorded) and o.created for o in outcomes) and set(alone) == {"created"}
    async with ledger.db.engine.connect() as conn:
        count = sa.select(lots.c.community_path, sa.func.count()).group_by(lots.c.community_path)
        assert dict((await conn.execute(count)).all()) == {FENGSHU: 6, OTHER: 10}
    clock.advance(days=40)
    for path in (OTHER, FENGSHU):
        assert await one_by_one(ledger, later_requests(path)) == ["SOURCE_POINTS_SHORT", "created", "created",
                                                                   "created"]
        await ledger.transfer(credit("recent", WAN, 2, path=path))
    cutoff = clock.now() - timedelta(days=1)
    # Wan: 5 left, 2 of them recent; Li: 27 in, 16 spent.
    assert [await ledger.expire_points(p, cutoff, "2027") for p in (FENGSHU, OTHER)] == [(2, 14)] * 2
    batch_state, alone_state = await ledger_state(ledger, FENGSHU), await ledger_state(ledger, OTHER)
    assert by_source(batch_state) == by_source(alone_state)
    assert batch_state["balances"][WAN][0] == 2 and batch_state["balances"][LI][0] == 0
    assert batch_state["funding"]["f1"] == alone_state["funding"]["f1"]


async def test_a_batch_naming_ids_stored_before_answers_them_as_replays_and_records_the_rest_once(
        ledger: Ledger) -> None:
    """On PostgreSQL a batch first takes its ids to be new without reading them; one stored
    before fails its insert, and the batch is run again reading them: the same answers as when
    they are read first (SQLite), the new ones recorded once, their events published once."""
    await ledger.transfer_many([credit("old", WAN, 5), credit("other", LI, 3)])
    outcomes = await ledger.transfer_many([credit("new", WAN, 7), credit("old", WAN, 5), credit("other", LI, 4),
                                           credit("new", WAN, 7)])
    assert [o.created if isinstance(o, Recorded) else o.reason for o in outcomes] == [
        True, False, "TRANSFER_ID_REUSED", False]
    assert await transfer_ids(ledger) == ["old", "other", "new"]
    assert (await ledger.balance(FENGSHU, WAN)).balance == 12
    credited = [c.transfer_id for c in await credits_published(ledger)]
    assert sorted(credited) == ["new", "old", "other"]


async def test_a_batch_over_two_communities_keeps_them_apart(ledger: Ledger) -> None:
    outcomes = await ledger.transfer_many([credit("t1", WAN, 5), credit("t1", WAN, 7, path=OTHER),
                                           move("m1", WAN, LI, 5), credit("t1", WAN, 7, path=OTHER)])
    assert [o.created for o in outcomes if isinstance(o, Recorded)] == [True, True, True, False]
    assert [(await ledger.balance(p, WAN)).balance for p in (FENGSHU, OTHER)] == [0, 7]
    assert (await ledger.balance(FENGSHU, LI)).balance == 5


async def test_create_transfers_refuses_each_bad_item_alone_and_commits_the_rest(
    ledger_stub: LedgerStub, as_service: Metadata, app: PointsApp
) -> None:
    """Over gRPC: no points, a replayed id, an id reused for another transfer, a bad field and an
    unknown account are each refused (or answered) alone; the good ones commit, nothing else does."""

    def item(tid: str, debit: str, to: str, amount: int) -> ledger_pb2.CreateTransferRequest:
        return ledger_pb2.CreateTransferRequest(transfer_id=tid, debit_account=debit, credit_account=to,
                                                amount=amount, reason="import")

    first = ledger_pb2.CreateTransfersRequest(community_path=FENGSHU, transfers=[item("seed", ISSUANCE, WAN, 5)])
    await ledger_stub.CreateTransfers(first, metadata=as_service)
    reply = await ledger_stub.CreateTransfers(ledger_pb2.CreateTransfersRequest(community_path=FENGSHU, transfers=[
        item("ok1", ISSUANCE, LI, 3),
        item("broke", ZHAO, LI, 1),          # Zhao has no points
        item("seed", ISSUANCE, WAN, 5),      # a replay: the first result
        item("seed", ISSUANCE, WAN, 6),      # the id of another transfer
        item("bad id!", ISSUANCE, WAN, 1),   # a bad field
        item("bank", "bank/icbc", WAN, 1),   # no such account
        item("ok2", WAN, ZHAO, 5),
    ]), metadata=as_service)
    outcomes = [(r.refusal.reason, r.refusal.field) if r.HasField("refusal") else r.created for r in reply.results]
    assert outcomes == [True, ("INSUFFICIENT_POINTS", ""), False, ("TRANSFER_ID_REUSED", ""),
                        ("INVALID_ARGUMENT", "transfers[4].transfer_id"),
                        ("INVALID_ARGUMENT", "transfers[5].debit_account"), True]
    assert reply.results[2].transfer.sequence == (await transfer_seqs(ledger_stub, as_service))["seed"]
    assert await transfer_ids(app.ledger) == ["seed", "ok1", "ok2"]
    # seed (a call of its own), ok1 (this call's one credit): nothing for the refused.
    assert [s for s, _ in await published_envelopes(app.db, app.bus.js, POINTS.name)] == ["points.points.credited"] * 2
    for account, points in ((WAN, 0), (LI, 3), (ZHAO, 5)):
        balance = await ledger_stub.GetBalance(ledger_pb2.GetBalanceRequest(community_path=FENGSHU, account=account),
                                               metadata=as_service)
        assert balance.balance == points, account


async def transfer_seqs(stub: LedgerStub, md: Metadata) -> dict[str, int]:
    page = await stub.ListTransfers(ledger_pb2.ListTransfersRequest(community_path=FENGSHU, account=WAN), metadata=md)
    return {e.transfer.transfer_id: e.transfer.sequence for e in page.entries}


async def test_a_batch_inside_the_callers_transaction_rolls_back_with_it(ledger: Ledger) -> None:
    async def work(conn):  # type: ignore[no-untyped-def]
        outcomes = await ledger.transfer_many_in(conn, [credit("in1", WAN, 4), move("in2", LI, WAN, 1)])
        assert isinstance(outcomes[0], Recorded) and isinstance(outcomes[1], FailedPrecondition)
        raise RuntimeError("the caller's own work failed")

    with pytest.raises(RuntimeError):
        await ledger.run(work)
    assert await transfer_ids(ledger) == []
    outcomes = await ledger.run(lambda conn: ledger.transfer_many_in(conn, [credit("in1", WAN, 4)]))
    assert isinstance(outcomes[0], Recorded) and outcomes[0].created
    assert (await ledger.balance(FENGSHU, WAN)).balance == 4


async def test_a_batch_large_enough_to_be_copied_records_and_answers_every_transfer(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """From `COPY_FROM` rows PostgreSQL writes a batch with COPY, keys drawn first: every
    transfer keeps its place (seqs ascend in the batch's order), lot and event; an id another
    writer took meanwhile fails the COPY as a unique key would fail an INSERT, and the retried
    batch answers it as a replay."""
    n = COPY_FROM + 20
    requests = [credit(f"c{i}", volunteer_account(f"v{i % 7}"), i + 1) for i in range(n)]
    taken = requests[n // 2]
    real_read_lots = batch._read_lots
    raced = False

    async def racing_read_lots(*args: Any) -> None:
        # After the batch's replay check, before its write: another replica records one of its ids.
        nonlocal raced
        if not raced:
            raced = True
            async with ledger.db.engine.begin() as other:  # its row only: the accounts are ours, locked
                await other.execute(transfers.insert().values(
                    community_path=FENGSHU, transfer_id=taken.transfer_id, kind=int(Kind.DIRECT), debit_account_id=0,
                    credit_account_id=0, debit_account=taken.debit_account, credit_account=taken.credit_account,
                    amount=taken.amount, reason=taken.reason, fingerprint=taken.fingerprint(),
                    created_at=ledger.now()))
        await real_read_lots(*args)

    ledger.clock.advance(seconds=1.234567)  # an instant with microseconds, which must survive
    if ledger.db.engine.dialect.name == "postgresql":  # SQLite has one writer: no race to lose
        monkeypatch.setattr(batch, "_read_lots", racing_read_lots)
    else:
        await ledger.transfer(taken)
    outcomes = await ledger.transfer_many(requests)
    assert raced or ledger.db.engine.dialect.name != "postgresql"
    assert all(isinstance(o, Recorded) for o in outcomes)
    recorded = [o for o in outcomes if isinstance(o, Recorded)]
    assert [o.created for o in recorded] == [r is not taken for r in requests]
    seqs = [o.transfer.seq for o in recorded if o.created]
    assert seqs == sorted(seqs) and len(set(seqs)) == n - 1
    assert await transfer_ids(ledger) == [taken.transfer_id] + [r.transfer_id for r in requests if r is not taken]
    others = sum(r.amount for r in requests if r is not taken)  # (on PostgreSQL `taken` is a bare row)
    assert sum([(await ledger.balance(FENGSHU, volunteer_account(f"v{v}"))).balance for v in range(7)]) == \
        others + (taken.amount if ledger.db.engine.dialect.name != "postgresql" else 0)
    async with ledger.db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(lots))).scalar_one() == \
            7 + (ledger.db.engine.dialect.name != "postgresql")  # the batch's: one per account (and `taken`'s)
        events = list((await conn.execute(sa.select(OUTBOX.c.event_id, OUTBOX.c.data))).all())
        stored = dict((await conn.execute(sa.select(transfers.c.transfer_id, transfers.c.created_at))).all())
    # Each at the batch's instant, to the microsecond (COPY sends it as an int: bulk.pg_micros).
    assert {as_utc(stored[o.transfer.transfer_id]) for o in recorded if o.created} == {ledger.now()}
    # The racing row came with no event on PostgreSQL; on SQLite `taken` was a transfer with its event.
    # The batch's credits come in one event (n < CREDITS_PER_EVENT).
    assert len({e.event_id for e in events}) == len(events) == 1 + (ledger.db.engine.dialect.name != "postgresql")
    credited = [c.transfer_id for c in await credits_published(ledger)]
    assert len(set(credited)) == len(credited) == n - (ledger.db.engine.dialect.name == "postgresql")
    assert {EventEnvelope.FromString(e.data).event_id for e in events} == {e.event_id for e in events}


_COLUMNS = ("community_path, transfer_id, kind, debit_account_id, credit_account_id, debit_account, "
            "credit_account, amount, reason, source, related_transfer_id, fingerprint, created_at")
_VALUES = "$1, 't' || g, 1, 1, 2, 'system/issuance', 'volunteers/v', 1, '', '', '', 'f', now()"


async def _add_transfers(raw: Any, path: str, first: int, last: int) -> None:
    await raw.execute(f"INSERT INTO points_transfer ({_COLUMNS}) SELECT {_VALUES} "
                      f"FROM generate_series({first}, {last}) g", path)


async def _lookup_plan(conn: Any, raw: Any, ids: list[str]) -> tuple[int, str]:
    """How many rows the replay lookup found for `ids` in FENGSHU, run as the batch runs it (the
    statement prepared on this connection), and the plan of the query inside the function
    (auto_explain: the plan PostgreSQL ran, not one EXPLAIN made up afresh)."""
    plans: list[str] = []

    def logged(_: Any, message: Any) -> None:
        plans.append(message.message)

    raw.add_log_listener(logged)
    await raw.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                      "SET auto_explain.log_nested_statements = on; SET client_min_messages = log")
    try:
        rows = (await conn.execute(batch._STATEMENTS[True]["by_id"], {"path": FENGSHU, "ids": ids})).all()
        await raw.execute("SET auto_explain.log_min_duration = -1; SET client_min_messages = notice")
        await wait_until(lambda: any("points_hold" in p for p in plans), timeout=5, what="the lookup's plan logged")
    finally:
        raw.remove_log_listener(logged)
    inner = next(p for p in plans if "unnest(ids)" in p)
    return len(rows), inner[inner.index("\n", inner.index("LIMIT 1")):]


def _probes_the_unique_index(plan: str) -> bool:
    return ("uq_points_transfer_id" in plan and "ix_points_transfer_related" not in plan
            and "ix_points_transfer_period" not in plan and "Seq Scan" not in plan)


async def test_the_replay_lookup_probes_the_unique_index_while_the_statistics_do_not_know_the_community(
        ledger: Ledger) -> None:
    """A community loaded since the last ANALYZE (the statistics know another one only): the
    replay lookup still probes the (community, transfer id) index once per id, rather than
    reading the community through the (community, created_at) index with a filter on the id —
    which it did, 323 ms instead of 6 for 1 000 ids among 30 000 transfers."""
    if ledger.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's plan does not depend on statistics")
    async with ledger.db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("ALTER TABLE points_transfer SET (autovacuum_enabled = false)")
        await _add_transfers(raw, OTHER, 1, 100)
        await raw.execute("ANALYZE points_transfer")
        await _add_transfers(raw, FENGSHU, 1, 5000)
        found, plan = await _lookup_plan(conn, raw, [f"t{i}" for i in range(1, 1001)])
    assert found == 1000
    assert _probes_the_unique_index(plan), plan


async def test_the_replay_lookup_probes_the_unique_index_of_a_table_grown_from_empty_without_analyze(
        ledger: Ledger) -> None:
    """The replay lookup run many times on a small, never analysed table, then on the same
    connection once the table has grown (still never analysed) probes the unique index once
    per id. As a prepared statement it kept the generic plan made while the table was small —
    the community read through the (community, related id) index once per id — and the
    benchmark's first CreateTransfers after 1 000 single transfers took 25 s over 85 calls."""
    if ledger.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's plan does not depend on statistics")
    async with ledger.db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("ALTER TABLE points_transfer SET (autovacuum_enabled = false)")
        for n in range(0, 60, 3):  # a group commit's lookups while the table fills: plans settle
            await _add_transfers(raw, FENGSHU, n + 1, n + 3)
            await conn.execute(batch._STATEMENTS[True]["by_id"], {"path": FENGSHU, "ids": [f"t{n + 1}", "new"]})
        await _add_transfers(raw, FENGSHU, 61, 8000)
        assert await raw.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'points_transfer'") < 0
        found, plan = await _lookup_plan(conn, raw, [f"t{i}" for i in range(3001, 4001)])
    assert found == 1000
    assert _probes_the_unique_index(plan), plan
