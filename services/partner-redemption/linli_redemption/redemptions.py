"""Redeem, cancel, refund — and the recovery that finishes what a crash left half-way.

A redemption crosses two databases (ours and volunteer-points' ledger), so it is a small saga
whose every step is idempotent and whose state lives in our `rd_redemption` row. The POS waits
for one call to volunteer-points, the hold (issue 18: one synchronous hop per redeem):

    1. reserve   (our tx)     checks, stock − q, row PENDING            ─ refusals leave nothing
    2. PlaceHold (ledger)     hold id `redemption:{id}`                 ─ INSUFFICIENT_POINTS → void
    3. commit    (our tx)     row COMMITTED (only while PENDING) + outbox event
                              `redemption.redemption.committed`         ─ the redemption's decision
    4. PostHold  (volunteer-points, from the event, in batches)         ─ the points move to
                              system/redemption-clearing; the POS does not wait for it

Step 3 is the point of no return: once the row is COMMITTED the hold is posted, never voided —
volunteer-points posts it from the event (the outbox and JetStream deliver it however long
either side is down), and nothing here voids the hold of a committed row. Everything that gives
up on a redemption (a cancel, recovery, a lost race) voids the row first, by a conditional
update, and only then the hold, so of a commit and a void exactly one wins. The ledger's own
timeout of the hold (`HOLD_TIMEOUT_SECONDS`, a day) only returns points nobody decides on; step
3 commits only while at least half of it is left, so an event would have to wait half a day to
find its hold expired (it is then dead-lettered by volunteer-points, with an error logged).
The volunteer's available points count the hold as spent from step 2 on.

A retry with the same request id re-reads the row and continues from where it is (every
ledger call is idempotent by hold id), so a lost reply never charges twice. A crash between
steps leaves a PENDING row; `recover_once` (run by the recovery loop once a row is older than
the grace period) asks the ledger:

    the hold is …              recovery
    never placed               void the row (only if `hold_placed` is still false)
    pending                    void the row, then VoidHold (a row committed meanwhile: nothing)
    posted                     commit the row (a redemption from before the one-hop saga)
    voided or expired          void the row

So no hold outlives recovery, and no points move without a committed redemption. Voiding
returns the reserved stock exactly once (a conditional update). A refund is reserved in our
tx (the redemption's row locked, the amount checked), then reversed at the ledger by transfer
id `refund:{id}` — after posting the hold (idempotent: the event may not have been applied
yet) — then completed with its event; recovery finishes refunds whose ledger call failed the
same way.

The saga talks to volunteer-points through `points.Points` and to its rows through a
`RedemptionStore` (`redemption_store.SqlRedemptionStore`), so the unit tests run it in memory;
the rules it applies are pure functions in `redemption_rules`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Gauge

from linli.events.v1 import redemption_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_redemption import names
from linli_redemption import redemption_rules as rules
from linli_redemption.members import MemberSession, check_session_id, live_session
from linli_redemption.points import (
    Hold,
    HoldPosted,
    HoldState,
    InsufficientPoints,
    Points,
    PointsNotFound,
    PointsRefused,
    post_transfer_id,
)
from linli_redemption.redemption_rules import ABORTED_MESSAGE, COMMITTED, PENDING, VOIDED
from linli_redemption.tables import MemberSession as SessionRow
from linli_redemption.tables import Redemption, Refund, Reward
from linli_redemption.terminals import TerminalCaller
from linli_runtime import fields
from linli_runtime.clock import Clock
from linli_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from linli_runtime.events.envelope import EventFactory
from linli_runtime.times import to_timestamp
from linli_runtime.transactions import fingerprint

log = logging.getLogger("linli.redemption.saga")

# PENDING redemptions older than the recovery grace, as the last recovery pass found them (at
# most its batch): one that stays above zero pass after pass is stuck (alert LinliRedemptionsStuck).
STUCK = Gauge("linli_redemptions_stuck", "PENDING redemptions older than the recovery grace, seen by the last "
              "recovery pass.")

MERCHANT_NAME_TTL = 60.0  # seconds a merchant's display name is reused (it only labels the event)
# A redemption's hold lives this long unless decided (the ledger's longest, a day): far above any
# lag of the committed event that posts it (module docstring).
HOLD_TIMEOUT_SECONDS = 86_400


@dataclass(frozen=True)
class Reservation:
    """Step 1: what a new redemption reserves (checked against the reward inside the store's tx)."""

    merchant_id: str
    reward_id: str
    request_id: str
    fingerprint: str
    terminal_id: str
    member: MemberSession
    quantity: int
    expected_points: int
    now: datetime


@dataclass(frozen=True)
class RedeemAsk:
    """Step 1 as a redeem asks it (issue 18: the replay lookup folded into the reservation's
    transaction): the row of a retried request id, else a new reservation for the member whose
    session `session_id` names — `admit` judges that session (the member, or the request's own
    refusal; it is not called for a retry, whose session may have expired since)."""

    merchant_id: str
    reward_id: str
    request_id: str
    fingerprint: str
    terminal_id: str
    session_id: str | None  # None: not even a plausible id (only a retry can go through)
    admit: Callable[[SessionRow | None], MemberSession]
    quantity: int
    expected_points: int
    now: datetime

    def reservation(self, member: MemberSession) -> Reservation:
        return Reservation(merchant_id=self.merchant_id, reward_id=self.reward_id, request_id=self.request_id,
                           fingerprint=self.fingerprint, terminal_id=self.terminal_id, member=member,
                           quantity=self.quantity, expected_points=self.expected_points, now=self.now)


@dataclass(frozen=True)
class Reserved:
    """What `RedemptionStore.reserve` answers a `RedeemAsk` with."""

    row: Redemption
    member: MemberSession | None  # the admitted member of a new reservation; None for a retry's row
    session: SessionRow | None = None  # a retry's: the session it names, if any (whose volunteer it is)


@dataclass(frozen=True)
class RefundReservation:
    merchant_id: str
    redemption_id: str
    request_id: str
    fingerprint: str
    points: int  # 0: everything left
    reason: str
    now: datetime
    window: timedelta


@dataclass(frozen=True)
class Quote:
    points: int
    available_points: int
    refusal_reason: str  # "" when the redeem would go through
    refusal_message: str = ""  # what the redeem would say

    @property
    def redeemable(self) -> bool:
        return not self.refusal_reason


class RedemptionStore(Protocol):
    """The saga's rows. Every write is one transaction, conditional where the saga says so; a
    write that lost a race reports it (False / None) rather than raising."""

    async def session(self, session_id: str) -> SessionRow | None: ...

    async def reward(self, merchant_id: str, reward_id: str) -> Reward | None: ...

    async def taken(self, reward: Reward, volunteer_id: str, now: datetime) -> rules.Taken:
        """What the member (ever) and everyone today hold of `reward` in live redemptions, as the
        reserve step counts it (a read: no lock)."""
        ...

    async def reserve(self, ask: RedeemAsk) -> Reserved:
        """Step 1, one read and transaction: the row of the request id if it has one (a retry),
        else the new PENDING row of the member `ask.admit` admits (or the one a concurrent first
        attempt of the same request id created); raises the session's or the rules' refusals,
        leaving nothing behind."""
        ...

    async def get(self, merchant_id: str, redemption_id: str) -> Redemption | None: ...

    async def by_request(self, merchant_id: str, request_id: str) -> Redemption | None: ...

    async def mark_hold_placed(self, redemption_id: str) -> bool:
        """Step 3, only while PENDING."""
        ...

    async def void(self, row: Redemption, reason: str, message: str, *, only_unplaced: bool) -> bool:
        """PENDING → VOIDED with the reserved stock back (only if no hold was marked placed,
        with `only_unplaced`)."""
        ...

    async def merchant_display_name(self, merchant_id: str) -> str: ...

    async def commit(self, redemption_id: str, transfer_id: str, now: datetime, ledger_day: str,
                     event: EventEnvelope) -> Redemption | None:
        """Step 5, only while PENDING, with `event` in the same transaction."""
        ...

    async def stuck(self, cutoff: datetime, limit: int) -> tuple[list[Redemption], list[Refund]]:
        """PENDING redemptions and unfinished refunds created before `cutoff`."""
        ...

    async def reserve_refund(self, reservation: RefundReservation) -> Refund:
        """The refund of a request id: the existing one (a retry), else a new one, its points
        counted on the redemption (and the stock back when it refunds everything)."""
        ...

    async def complete_refund(self, refund_id: str, transfer_id: str, ledger_day: str,
                              event: EventEnvelope) -> bool:
        """Only if not completed yet, with `event` in the same transaction."""
        ...

    async def refund(self, refund_id: str) -> Refund: ...


def _volunteer_of(who: TerminalCaller, row: SessionRow | None) -> str | None:
    """Whose session this terminal opened, expired or not (None if it opened no such session): a
    retried redeem may carry a newer session of the same volunteer."""
    return row.volunteer_id if row is not None and row.terminal_id == who.terminal_id else None


class Redemptions:
    def __init__(self, store: RedemptionStore, points: Points, clock: Clock, make_event: EventFactory,
                 *, hold_timeout_seconds: int = HOLD_TIMEOUT_SECONDS,
                 refund_window: timedelta = timedelta(days=7)) -> None:
        self.store, self.points, self.clock, self.make_event = store, points, clock, make_event
        self.hold_timeout_seconds = hold_timeout_seconds
        self.refund_window = refund_window
        # Test seam: awaited right after PlaceHold answered (fault injection: a crash there).
        self.after_hold: Callable[[Redemption], Awaitable[None]] | None = None
        # Merchants' display names for the committed event: {id: (name, read at)}.
        self._merchant_names: dict[str, tuple[str, float]] = {}

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, merchant_id: str, redemption_id: str) -> Redemption:
        row = await self.store.get(merchant_id, redemption_id)
        if row is None:
            raise NotFound(f"no redemption {redemption_id} at merchant {merchant_id}", reason="REDEMPTION_NOT_FOUND")
        return row

    async def get_for(self, who: TerminalCaller, name: str) -> Redemption:
        """A redemption of the terminal's own merchant, by its resource name."""
        merchant_id, redemption_id = names.parse_redemption("name", name)
        rules.check_merchant(who, merchant_id)
        return await self.get(merchant_id, redemption_id)

    async def quote(self, who: TerminalCaller, reward_name: str, session_id: str, quantity: int) -> Quote:
        """What a redeem would cost and whether it would go through now (nothing is reserved):
        the same rules the redeem applies (`redemption_rules.redeem_refusal`), on the same counts,
        with the member's available points for the hold's check."""
        merchant_id, reward_id = names.parse_reward("reward", reward_name)
        rules.check_merchant(who, merchant_id)
        rules.check_quantity(quantity)
        member = live_session(who, await self.store.session(check_session_id(session_id)), self.clock.now())
        item = await self.store.reward(merchant_id, reward_id)
        if item is None:
            raise NotFound(f"merchant {merchant_id} has no reward {reward_id}", reason="REWARD_NOT_FOUND")
        now = self.clock.now()
        taken = await self.store.taken(item, member.volunteer_id, now)
        available = await self.points.available(member.community_path, member.volunteer_id)
        refusal = rules.redeem_refusal(item, quantity, now, taken, available)
        return Quote(int(item.points) * quantity, available, refusal.reason if refusal else "",
                     refusal.message if refusal else "")

    # -- redeem --------------------------------------------------------------------------------

    async def redeem(self, who: TerminalCaller, reward_name: str, session_id: str, quantity: int, request_id: str,
                     expected_points: int) -> Redemption:
        merchant_id, reward_id = names.parse_reward("reward", reward_name)
        rules.check_merchant(who, merchant_id)
        rules.check_quantity(quantity)
        fields.request_id(request_id, required=True)
        rules.check_expected_points(expected_points)
        # What was asked, without the member session: a POS restarted mid-redeem resolves the
        # volunteer's code again and retries with a new session; the retry is the same request
        # if that session is the same volunteer's (checked below).
        digest = fingerprint(reward_id, quantity, expected_points, who.terminal_id)
        digest_with_session = fingerprint(reward_id, session_id, quantity, expected_points, who.terminal_id)

        # A retry's first answer, else a new reservation for the member's session: one read and
        # one transaction, the session judged in between (`admit`).
        plausible = session_id if 0 < len(session_id) <= 64 else None
        now = self.clock.now()

        def admit(row: SessionRow | None) -> MemberSession:
            check_session_id(session_id)
            return live_session(who, row, now)

        reserved = await self.store.reserve(RedeemAsk(
            merchant_id=merchant_id, reward_id=reward_id, request_id=request_id, fingerprint=digest,
            terminal_id=who.terminal_id, session_id=plausible, admit=admit, quantity=quantity,
            expected_points=expected_points, now=now))
        existing, member = reserved.row, reserved.member
        # (A fingerprint with the session in it was stored before retries could change sessions.)
        same = existing.fingerprint == digest_with_session or (
            existing.fingerprint == digest and existing.volunteer_id == (
                member.volunteer_id if member is not None else _volunteer_of(who, reserved.session)))
        if not same:
            raise AlreadyExists(f"request id {request_id} was used for a different redemption",
                                reason="REQUEST_ID_REUSED")
        return await self.drive(existing)

    async def drive(self, row: Redemption) -> Redemption:
        """Take a redemption as far as it goes: the committed row, or the refusal it ended in."""
        if row.state == COMMITTED:
            return row
        if row.state == VOIDED:
            raise rules.refused(row)
        source = names.redemption_name(row.merchant_id, row.id)
        try:
            hold = await self.points.place_hold(row.community_path, row.hold_id, row.volunteer_id, int(row.points),
                                                self.hold_timeout_seconds, source)
        except InsufficientPoints:
            short = rules.insufficient_points()
            return await self._void(row, short.reason, short.message)
        except PointsRefused as refusal:
            return await self._void(row, "LEDGER_REFUSED", f"volunteer-points refused the hold: {refusal.message}")
        if self.after_hold is not None:
            await self.after_hold(row)
        if hold.state in (HoldState.VOIDED, HoldState.EXPIRED):
            return await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        if hold.state == HoldState.POSTED:  # posted by the two-hop saga before an upgrade
            return await self._commit_posted(row)
        if not self._time_left(hold):  # a retry of a long-stuck redemption: too late to commit
            return await self._abandon_pending(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        return await self._commit(row, hold)

    def _time_left(self, hold: Hold) -> bool:
        """Whether at least half the hold's timeout is left, so that its POST (from the committed
        event) comes long before the ledger could expire it."""
        if hold.expire_time is None:
            return True
        return (hold.expire_time - self.clock.now()).total_seconds() >= self.hold_timeout_seconds / 2

    async def _void_hold_quietly(self, row: Redemption) -> None:
        try:
            await self.points.void_hold(row.community_path, row.hold_id)
        except PointsRefused as refusal:
            log.warning("void of a cancelled redemption's hold refused", extra={"hold": row.hold_id,
                                                                                 "reason": refusal.reason})

    async def _void(self, row: Redemption, reason: str, message: str, *, only_unplaced: bool = False) -> Redemption:
        """PENDING → VOIDED (stock back) and raise the refusal; or the row's outcome if another
        path settled it first."""
        await self.store.void(row, reason, message, only_unplaced=only_unplaced)
        current = await self.get(row.merchant_id, row.id)
        if current.state == PENDING:  # hold placed meanwhile: recovery decides next round
            return current
        return await self.drive(current)

    async def _merchant_name(self, merchant_id: str) -> str:
        """The merchant's display name, re-read at most once a minute (it only labels the event)."""
        cached = self._merchant_names.get(merchant_id)
        if cached is not None and time.monotonic() - cached[1] < MERCHANT_NAME_TTL:
            return cached[0]
        name = await self.store.merchant_display_name(merchant_id)
        self._merchant_names[merchant_id] = (name, time.monotonic())
        return name

    async def _commit(self, row: Redemption, hold: Hold) -> Redemption:
        """Step 3: COMMITTED with its event, while the row is still PENDING; a row voided meanwhile
        (a cancel, recovery) gets its points back and answers with its refusal."""
        transfer_id = post_transfer_id(row.hold_id)
        # The day of the hold: what reconciliation counts the posted hold on, however late it is posted.
        committed = await self._write_commit(row, transfer_id, hold.create_time or self.clock.now())
        if committed is not None:
            return committed
        current = await self.get(row.merchant_id, row.id)
        if current.state == VOIDED:
            await self._void_hold_quietly(current)
        return await self.drive(current)

    async def _write_commit(self, row: Redemption, transfer_id: str, ledger_time: datetime) -> Redemption | None:
        now = self.clock.now()
        payload = events.RedemptionCommitted(
            redemption=names.redemption_name(row.merchant_id, row.id), request_id=row.request_id,
            community_path=row.community_path, merchant_id=row.merchant_id,
            merchant_name=await self._merchant_name(row.merchant_id), terminal_id=row.terminal_id,
            volunteer_id=row.volunteer_id, reward_id=row.reward_id, reward_name=row.reward_name,
            quantity=row.quantity, points=row.points, transfer_id=transfer_id, committed_at=to_timestamp(now))
        event = self.make_event("redemption.redemption.committed", payload, row.community_path)
        return await self.store.commit(row.id, transfer_id, now, rules.ledger_day(ledger_time), event)

    async def _commit_posted(self, row: Redemption) -> Redemption:
        """Commit a redemption whose hold the ledger has posted already (the two-hop saga's, before
        an upgrade; posting again is idempotent and answers with the POST transfer)."""
        posted = await self.points.post_hold(row.community_path, row.hold_id)
        committed = await self._write_commit(row, posted.transfer_id, posted.create_time)
        return committed if committed is not None else await self.get(row.merchant_id, row.id)

    # -- cancel --------------------------------------------------------------------------------

    async def cancel(self, who: TerminalCaller, parent: str, request_id: str) -> Redemption:
        merchant_id = names.parse_merchant("parent", parent)
        rules.check_merchant(who, merchant_id)
        fields.request_id(request_id, required=True)
        row = await self.store.by_request(merchant_id, request_id)
        if row is None:
            raise NotFound(f"no redemption with request id {request_id}", reason="REDEMPTION_NOT_FOUND")
        return await self._abandon(row, "CANCELLED", "the redemption was cancelled by the terminal")

    async def _abandon(self, row: Redemption, reason: str, message: str) -> Redemption:
        """Void a PENDING redemption here first, then its hold at the ledger: the row's void and
        its commit are one conditional update each, so a redemption committed meanwhile stays
        committed (and its hold is posted from its event), and one voided here can no longer
        commit."""
        if row.state == COMMITTED:
            raise rules.committed_already()
        if row.state == VOIDED:
            return row
        current = await self._abandon_pending_quietly(row, reason, message)
        if current.state == COMMITTED:
            raise rules.committed_already()
        return current

    async def _abandon_pending(self, row: Redemption, reason: str, message: str) -> Redemption:
        """`_abandon_pending_quietly`, then the row's outcome: its refusal, or the committed row."""
        return await self.drive(await self._abandon_pending_quietly(row, reason, message))

    async def _abandon_pending_quietly(self, row: Redemption, reason: str, message: str) -> Redemption:
        """Void the row (unless settled meanwhile), then, if it is voided, its hold; the row as it is now."""
        await self.store.void(row, reason, message, only_unplaced=False)
        current = await self.get(row.merchant_id, row.id)
        if current.state == VOIDED:
            try:
                await self.points.void_hold(row.community_path, row.hold_id)
            except HoldPosted:  # cannot happen: only a committed redemption's hold is posted
                log.error("posted hold of a voided redemption", extra={"redemption": row.id})
            except PointsNotFound:
                pass  # never placed: nothing to release
        return current

    # -- recovery ------------------------------------------------------------------------------

    async def recover_once(self, grace: timedelta, limit: int = 100) -> int:
        """Settle PENDING redemptions and unfinished refunds older than `grace`; returns how many
        it looked at."""
        stuck, refunds = await self.store.stuck(self.clock.now() - grace, limit)
        STUCK.set(len(stuck))  # the alert LinliRedemptionsStuck watches it across passes
        for row in stuck:
            await self._recover(row)
        for item in refunds:
            await self._finish_refund(item)
        return len(stuck) + len(refunds)

    async def _recover(self, row: Redemption) -> None:
        hold = await self.points.get_hold(row.community_path, row.hold_id)
        log.info("recovering a redemption", extra={"redemption": row.id,
                                                    "hold_state": hold.state if hold is not None else "none"})
        try:
            if hold is None:
                await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE, only_unplaced=True)
            elif hold.state == HoldState.POSTED:
                await self._commit_posted(row)
            elif hold.state == HoldState.PENDING:
                await self._abandon(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
            else:
                await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        except FailedPrecondition:
            pass  # settled (the refusal is the redemption's outcome, kept on the row)

    # -- refund --------------------------------------------------------------------------------

    async def refund(self, who: TerminalCaller, name: str, request_id: str, points: int,
                     reason: str) -> tuple[Refund, Redemption]:
        merchant_id, redemption_id = names.parse_redemption("name", name)
        rules.check_merchant(who, merchant_id)
        fields.request_id(request_id, required=True)
        reason = fields.text("reason", reason, 200, required=True)
        rules.check_refund_points(points)
        digest = fingerprint(redemption_id, points, reason)
        item = await self.store.reserve_refund(RefundReservation(
            merchant_id=merchant_id, redemption_id=redemption_id, request_id=request_id, fingerprint=digest,
            points=points, reason=reason, now=self.clock.now(), window=self.refund_window))
        if item.fingerprint != digest:
            raise AlreadyExists(f"request id {request_id} was used for a different refund",
                                reason="REQUEST_ID_REUSED")
        item = await self._finish_refund(item)
        return item, await self.get(merchant_id, item.redemption_id)

    async def _finish_refund(self, item: Refund) -> Refund:
        if item.completed:
            return item
        row = await self.get(item.merchant_id, item.redemption_id)
        # The redemption's hold is posted from its event; a refund right after the redeem may come
        # first, and posting a committed redemption's hold is what the event will do anyway.
        await self.points.post_hold(row.community_path, row.hold_id)
        transfer = await self.points.reverse(item.community_path, f"refund:{item.id}", row.transfer_id,
                                             int(item.points), f"refund: {item.reason}"[:100])
        payload = events.RedemptionRefunded(
            redemption=names.redemption_name(row.merchant_id, row.id), refund_id=item.id,
            community_path=row.community_path, merchant_id=row.merchant_id, volunteer_id=row.volunteer_id,
            points=item.points, reason=item.reason, transfer_id=transfer.transfer_id)
        event = self.make_event("redemption.redemption.refunded", payload, row.community_path)
        await self.store.complete_refund(item.id, transfer.transfer_id, rules.ledger_day(transfer.create_time), event)
        return await self.store.refund(item.id)
