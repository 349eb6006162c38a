"""volunteer-points' consumer of `redemption.redemption.committed` (SQLite and PostgreSQL): a
fetched batch of committed redemptions posts their holds in one transaction, the inbox makes a
redelivery a no-op and the post itself is idempotent beyond it; a hold that can no longer be
posted (expired) is a poison message — dead-lettered for an operator, never silently dropped —
and a malformed event too. The delivery path is the consumer's own (`EventConsumer.apply_in`,
the step a batch or a replay takes), without NATS."""

from __future__ import annotations

import pytest
from linli_points.consumers import redemption_holds
from linli_points.ledger.accounts import REDEMPTION_CLEARING, volunteer_account
from linli_points.ledger.model import HoldState, Kind, Resolution, TransferRequest
from linli_points.ledger.store import Ledger

from linli.events.v1.redemption_pb2 import RedemptionCommitted
from linli_runtime.clock import ManualClock
from linli_runtime.errors import DomainError
from linli_runtime.events import EventFactory, PoisonMessage
from linli_runtime.events.consumer import EventConsumer
from linli_runtime.events.envelope import Event

from .conftest import FENGSHU
from .test_ledger import credit, hold
from .test_ledger_batches import OTHER, ledger_state

WAN = volunteer_account("v-wan")


def committed(make: EventFactory, hold_id: str, points: int, path: str = FENGSHU) -> Event:
    payload = RedemptionCommitted(redemption=f"merchants/m/redemptions/{hold_id}", community_path=path,
                                  volunteer_id="v-wan", points=points, transfer_id=f"{hold_id}/post")
    return Event(make("redemption.redemption.committed", payload, path))


def consumer(ledger: Ledger) -> EventConsumer:
    return EventConsumer(redemption_holds(ledger), ledger.db, bus=None, clock=ledger.clock)  # type: ignore[arg-type]


async def apply_batch(ledger: Ledger, events: list[Event]) -> list[bool]:
    """One transaction for the batch, as the consumer's fast path, under the ledger's batch lock."""
    c = consumer(ledger)
    async with ledger.batch_lock, ledger.db.transaction() as session:
        return [await c.apply_in(session, e) for e in events]


async def test_a_batch_posts_each_hold_once_however_often_it_is_delivered(ledger: Ledger,
                                                                          clock: ManualClock) -> None:
    make = EventFactory("partner-redemption", clock)
    await ledger.transfer(credit("fund", WAN, 100))
    for hid, amount in (("redemption:r1", 10), ("redemption:r2", 20), ("redemption:r3", 30)):
        await ledger.place_hold(hold(hid, amount, timeout=86_400))
    before = await ledger.balance(FENGSHU, WAN)
    assert (before.balance, before.held) == (100, 60)
    events = [committed(make, f"redemption:r{i}", 10 * i) for i in (1, 2, 3)]
    assert await apply_batch(ledger, events) == [True, True, True]
    after = await ledger.balance(FENGSHU, WAN)
    assert (after.balance, after.held) == (40, 0)
    assert {(await ledger.get_hold(FENGSHU, f"redemption:r{i}")).state for i in (1, 2, 3)} == {HoldState.POSTED}

    # Redelivered: the inbox knows them. And posted again past the inbox (an event replayed by an
    # operator, a second publisher): the post answers with the POST transfer it made.
    assert await apply_batch(ledger, events) == [False, False, False]
    handler = redemption_holds(ledger).handler
    async with ledger.batch_lock, ledger.db.transaction() as session:
        await handler(events[0], session)
    again = await ledger.balance(FENGSHU, WAN)
    assert (again.balance, again.held) == (40, 0)


async def test_a_hold_that_can_no_longer_be_posted_and_a_malformed_event_are_poison(
        ledger: Ledger, clock: ManualClock) -> None:
    make = EventFactory("partner-redemption", clock)
    await ledger.transfer(credit("fund", WAN, 100))
    await ledger.place_hold(hold("redemption:late", 10, timeout=60))
    clock.advance(seconds=61)
    handler = redemption_holds(ledger).handler
    bad: list[tuple[Event, str]] = [
        (committed(make, "redemption:late", 10), "HOLD_EXPIRED"),
        (committed(make, "redemption:never", 10), "HOLD_NOT_FOUND"),
        (Event(make("redemption.redemption.committed", RedemptionCommitted(
            community_path=FENGSHU, transfer_id="not-a-post"), FENGSHU)), "names no community or no hold"),
    ]
    for event, why in bad:
        with pytest.raises(PoisonMessage) as poison:
            async with ledger.batch_lock, ledger.db.transaction() as session:
                await handler(event, session)
        assert why in str(poison.value)
    # Nothing was written for them (the expiry the post found is the sweeper's to commit).
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held) == (100, 10)


def _hold_in(path: str, hid: str, amount: int, timeout: int = 86_400) -> TransferRequest:
    return TransferRequest(path, hid, WAN, REDEMPTION_CLEARING, amount, Kind.PENDING, reason="redemption",
                           source="merchants/m", timeout_seconds=timeout)


KEYS = ["ok-1", "voided", "late", "done", "never", "ok-2", "ok-1"]


def _answer(outcome: Resolution | DomainError, path: str) -> tuple[object, ...]:
    if isinstance(outcome, DomainError):
        return outcome.reason, str(outcome).replace(path, "<community>")
    return (outcome.hold.state.name, outcome.transfer.transfer_id, outcome.transfer.amount,
            outcome.transfer.debit_balance_after)


# The holds' accounts as the caller names them (the consumer does, from the events): not at all;
# rightly (the holds read once, under the locks); or wrongly, the volunteer's account left
# unlocked (the batch goes the long way).
HINTS: dict[str, list[tuple[str, str]] | None] = {
    "unnamed": None,
    "named": [(WAN, REDEMPTION_CLEARING)] * len(KEYS),
    "misnamed": [(REDEMPTION_CLEARING, REDEMPTION_CLEARING)] * len(KEYS),
}


@pytest.mark.parametrize("accounts", list(HINTS))
async def test_a_batch_of_posts_leaves_what_posting_one_by_one_leaves(ledger: Ledger, clock: ManualClock,
                                                                      accounts: str) -> None:
    """A batch holding two holds to post (the second taking points from two lots), one named twice,
    a voided, an expired, an already-posted and an unknown hold: each answered as `post_hold_in`
    answers it, one transaction per hold rolled back on its refusal (the consumer's one-by-one
    path) in one community, and the whole ledger state of the two communities the same —
    whether the holds' accounts are named by the caller or not, rightly or wrongly."""
    for path in (FENGSHU, OTHER):  # the same history in both, at the same instants
        await ledger.transfer(credit("fund-1", WAN, 30, path))
    clock.advance(seconds=1)
    for path in (FENGSHU, OTHER):
        await ledger.transfer(credit("fund-2", WAN, 40, path))
        for hid, amount, timeout in (("ok-1", 10, 86_400), ("ok-2", 25, 86_400), ("voided", 5, 86_400),
                                     ("late", 5, 60), ("done", 7, 86_400)):
            await ledger.place_hold(_hold_in(path, hid, amount, timeout))
        await ledger.void_hold(path, "voided")
        await ledger.post_hold(path, "done")
    clock.advance(seconds=61)  # "late" is past its time, not yet swept

    alone: list[tuple[object, ...]] = []
    for hid in KEYS:
        try:
            async with ledger.batch_lock, ledger.db.transaction() as session:
                alone.append(_answer(await ledger.post_hold_in(await session.connection(), FENGSHU, hid), FENGSHU))
        except DomainError as refusal:  # its transaction rolled back, as the consumer's would be
            alone.append(_answer(refusal, FENGSHU))
    async with ledger.batch_lock, ledger.db.transaction() as session:
        batched = await ledger.post_holds_in(await session.connection(), [(OTHER, hid) for hid in KEYS],
                                             accounts=HINTS[accounts])

    assert [_answer(o, OTHER) for o in batched] == alone
    assert [a[0] for a in alone] == ["POSTED", "HOLD_VOIDED", "HOLD_EXPIRED", "POSTED", "HOLD_NOT_FOUND", "POSTED",
                                     "POSTED"]
    assert await ledger_state(ledger, OTHER) == await ledger_state(ledger, FENGSHU)
    b = await ledger.balance(OTHER, WAN)
    assert (b.balance, b.held) == (70 - 10 - 25 - 7, 5)  # "late" still held until the sweeper expires it
