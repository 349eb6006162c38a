"""In-memory stand-ins for the redeem saga's two sides: `FakePoints` (volunteer-points' ledger:
balances, holds, transfers, and failures on demand) and `MemoryStore` (our rows, with the
conditional updates the SQL store makes). Pure Python: no database, no sockets, no processes.
Both hand out copies, as the real ones hand out fresh rows and messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from linli_redemption import redemption_rules as rules
from linli_redemption.points import (
    ClearingDay,
    ClearingEntry,
    Hold,
    HoldPosted,
    HoldState,
    InsufficientPoints,
    PointsNotFound,
    PointsRefused,
    PointsUnavailable,
    Transfer,
    TransferKind,
)
from linli_redemption.redemption_rules import COMMITTED, PENDING, VOIDED
from linli_redemption.redemptions import RedeemAsk, RefundReservation, Reservation, Reserved
from linli_redemption.settlement import ledger_movements
from linli_redemption.tables import MemberSession, Redemption, Refund, Reward
from sqlmodel import SQLModel

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.events.v1.redemption_pb2 import RedemptionCommitted
from linli_runtime import times
from linli_runtime.clock import Clock
from linli_runtime.errors import NotFound
from linli_runtime.models import loaded

M = TypeVar("M", bound=SQLModel)


def copy(row: M) -> M:
    return loaded(type(row), row.model_dump())


@dataclass
class LedgerHold:
    hold_id: str
    volunteer_id: str
    amount: int
    state: HoldState = HoldState.PENDING
    post: Transfer | None = None
    create_time: datetime | None = None
    expire_time: datetime | None = None


@dataclass
class FakePoints:
    """One community's ledger. `down` names the calls that fail as if volunteer-points did not
    answer; `refuse` maps a call to the refusal its next use raises."""

    clock: Clock
    balances: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # volunteer id → the account bound to it
    holds: dict[str, LedgerHold] = field(default_factory=dict)
    reversals: dict[str, Transfer] = field(default_factory=dict)
    clearing: list[ClearingEntry] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    refuse: dict[str, PointsRefused] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _enter(self, what: str) -> None:
        self.calls.append(what)
        if what in self.down:
            raise PointsUnavailable(what)
        refusal = self.refuse.pop(what, None)
        if refusal is not None:
            raise refusal

    def held(self, volunteer_id: str) -> int:
        return sum(h.amount for h in self.holds.values()
                   if h.volunteer_id == volunteer_id and h.state == HoldState.PENDING)

    def _hold(self, hold_id: str) -> LedgerHold:
        found = self.holds.get(hold_id)
        if found is None:
            raise PointsNotFound("HOLD_NOT_FOUND", f"hold {hold_id!r} does not exist")
        return found

    @staticmethod
    def _view(hold: LedgerHold) -> Hold:
        return Hold(hold.hold_id, hold.state, hold.amount, hold.create_time, hold.expire_time)

    async def place_hold(self, community: str, hold_id: str, volunteer_id: str, amount: int,
                         timeout_seconds: int, source: str) -> Hold:
        self._enter("PlaceHold")
        if hold_id in self.holds:  # idempotent: the hold as it is now
            return self._view(self.holds[hold_id])
        if self.balances.get(volunteer_id, 0) - self.held(volunteer_id) < amount:
            raise InsufficientPoints("INSUFFICIENT_POINTS", "not enough points")
        now = self.clock.now()
        self.holds[hold_id] = LedgerHold(hold_id, volunteer_id, amount, create_time=now,
                                         expire_time=now + timedelta(seconds=timeout_seconds))
        return self._view(self.holds[hold_id])

    def apply_committed(self, committed: list[EventEnvelope]) -> None:
        """What volunteer-points' consumer of `redemption.redemption.committed` does: post each
        committed redemption's hold (again: idempotent). Not a call of the saga's."""
        for event in committed:
            if event.subject == "redemption.redemption.committed":
                payload = RedemptionCommitted()
                event.payload.Unpack(payload)
                self._post(payload.transfer_id.removesuffix("/post"))

    async def post_hold(self, community: str, hold_id: str) -> Transfer:
        self._enter("PostHold")
        return self._post(hold_id)

    def _post(self, hold_id: str) -> Transfer:
        hold = self._hold(hold_id)
        if hold.state == HoldState.POSTED:
            assert hold.post is not None
            return hold.post
        if hold.state != HoldState.PENDING:
            raise PointsRefused(f"HOLD_{hold.state.name}", f"cannot post hold {hold_id!r}")
        hold.state = HoldState.POSTED
        hold.post = Transfer(f"{hold_id}/post", TransferKind.POST, hold.amount, self.clock.now())
        self.balances[hold.volunteer_id] -= hold.amount
        self.clearing.append(ClearingEntry(hold.post, hold.amount))
        return hold.post

    async def void_hold(self, community: str, hold_id: str) -> Hold:
        self._enter("VoidHold")
        hold = self._hold(hold_id)
        if hold.state == HoldState.POSTED:
            raise HoldPosted("HOLD_POSTED", f"cannot void hold {hold_id!r}: it is already posted")
        if hold.state == HoldState.PENDING:
            hold.state = HoldState.VOIDED
        return self._view(hold)

    async def get_hold(self, community: str, hold_id: str) -> Hold | None:
        self._enter("GetHold")
        return self._view(self.holds[hold_id]) if hold_id in self.holds else None

    async def reverse(self, community: str, transfer_id: str, reversed_id: str, amount: int,
                      reason: str) -> Transfer:
        self._enter("ReverseTransfer")
        if transfer_id in self.reversals:
            return self.reversals[transfer_id]
        [posted] = [h for h in self.holds.values() if h.post is not None and h.post.transfer_id == reversed_id]
        self.balances[posted.volunteer_id] += amount
        self.reversals[transfer_id] = Transfer(transfer_id, TransferKind.REVERSAL, amount, self.clock.now())
        self.clearing.append(ClearingEntry(self.reversals[transfer_id], -amount))
        return self.reversals[transfer_id]

    async def available(self, community: str, volunteer_id: str) -> int:
        self._enter("GetBalance")
        return self.balances.get(volunteer_id, 0) - self.held(volunteer_id)

    async def volunteer_name(self, community: str, volunteer_id: str) -> str:
        self._enter("GetVolunteer")
        if volunteer_id not in self.names:
            raise PointsNotFound("VOLUNTEER_NOT_FOUND", f"no volunteer {volunteer_id}")
        return self.names[volunteer_id]

    async def volunteer_account(self, community: str, volunteer_id: str) -> str:
        self._enter("GetVolunteer")
        if volunteer_id not in self.names:
            raise PointsNotFound("VOLUNTEER_NOT_FOUND", f"no volunteer {volunteer_id}")
        return self.accounts.get(volunteer_id, "")

    async def clearing_days(self, community: str, first: str, last: str) -> AsyncIterator[ClearingEntry]:
        self._enter("ListDayTransfers")
        for entry in list(self.clearing):
            if first <= rules.ledger_day(entry.transfer.create_time) <= last:
                yield entry

    async def clearing_totals(self, communities: list[str], first: str, last: str, *,
                              timeout: float | None = None) -> list[ClearingDay]:
        """The one community's clearing account, reported for each community asked about."""
        self._enter("SummarizeAccountDays")
        start, count = date.fromisoformat(first), (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
        days = [(start + timedelta(days=i)).isoformat() for i in range(count)]
        out: list[ClearingDay] = []
        for day in days:
            moved = ledger_movements(self.clearing, day).values()
            if any(moved):
                out.extend(ClearingDay(c, day, sum(v for v in moved if v > 0), -sum(v for v in moved if v < 0))
                           for c in communities)
        return sorted(out, key=lambda d: (d.community_path, d.day))


class MemoryStore:
    """`RedemptionStore` in memory. `fail_commit` makes the next commit raise (a crash after
    PostHold, before our commit)."""

    def __init__(self, merchant_names: dict[str, str] | None = None) -> None:
        self.rewards: dict[tuple[str, str], Reward] = {}
        self.sessions: dict[str, MemberSession] = {}
        self.redemptions: dict[str, Redemption] = {}
        self.refunds: dict[str, Refund] = {}
        self.events: list[EventEnvelope] = []
        self.merchant_names = dict(merchant_names or {})
        self.fail_commit: Exception | None = None

    # -- set-up helpers ------------------------------------------------------------------------

    def add_reward(self, reward: Reward) -> None:
        self.rewards[(reward.merchant_id, reward.id)] = reward

    def add_session(self, session: MemberSession) -> None:
        self.sessions[session.id] = session

    # -- reads ---------------------------------------------------------------------------------

    async def session(self, session_id: str) -> MemberSession | None:
        found = self.sessions.get(session_id)
        return None if found is None else copy(found)

    async def reward(self, merchant_id: str, reward_id: str) -> Reward | None:
        found = self.rewards.get((merchant_id, reward_id))
        return None if found is None else copy(found)

    async def get(self, merchant_id: str, redemption_id: str) -> Redemption | None:
        found = self.redemptions.get(redemption_id)
        return None if found is None or found.merchant_id != merchant_id else copy(found)

    async def by_request(self, merchant_id: str, request_id: str) -> Redemption | None:
        for row in self.redemptions.values():
            if (row.merchant_id, row.request_id) == (merchant_id, request_id):
                return copy(row)
        return None

    async def merchant_display_name(self, merchant_id: str) -> str:
        return self.merchant_names.get(merchant_id, merchant_id)

    async def stuck(self, cutoff: datetime, limit: int) -> tuple[list[Redemption], list[Refund]]:
        pending = sorted((r for r in self.redemptions.values() if r.state == PENDING and r.create_time < cutoff),
                         key=lambda r: r.create_time)
        refunds = [f for f in self.refunds.values() if not f.completed and f.create_time < cutoff]
        return [copy(r) for r in pending[:limit]], [copy(f) for f in refunds[:limit]]

    async def refund(self, refund_id: str) -> Refund:
        return copy(self.refunds[refund_id])

    # -- writes --------------------------------------------------------------------------------

    def _live_units(self, merchant_id: str, reward_id: str, *, volunteer_id: str | None = None,
                    day: tuple[datetime, datetime] | None = None) -> int:
        return sum(r.quantity for r in self.redemptions.values()
                   if (r.merchant_id, r.reward_id) == (merchant_id, reward_id) and r.state != VOIDED
                   and (volunteer_id is None or r.volunteer_id == volunteer_id)
                   and (day is None or day[0] <= r.create_time < day[1]))

    async def taken(self, reward: Reward, volunteer_id: str, now: datetime) -> rules.Taken:
        day = times.day_bounds(times.local_day(now))
        return rules.Taken(
            by_member=self._live_units(reward.merchant_id, reward.id, volunteer_id=volunteer_id)
            if reward.per_volunteer_limit else 0,
            today=self._live_units(reward.merchant_id, reward.id, day=day) if reward.daily_quota else 0)

    async def reserve(self, ask: RedeemAsk) -> Reserved:
        existing = await self.by_request(ask.merchant_id, ask.request_id)
        session = None if ask.session_id is None else await self.session(ask.session_id)
        if existing is not None:
            return Reserved(existing, None, session)
        member = ask.admit(session)
        return Reserved(await self._reserve_new(ask.reservation(member)), member)

    async def _reserve_new(self, reservation: Reservation) -> Redemption:
        r = reservation
        item = self.rewards.get((r.merchant_id, r.reward_id))
        if item is None:
            raise NotFound(f"merchant {r.merchant_id} has no reward {r.reward_id}", reason="REWARD_NOT_FOUND")
        rules.check_redeemable(item, r.quantity, r.now, await self.taken(item, r.member.volunteer_id, r.now))
        points = rules.price(item, r.quantity, r.expected_points)
        if item.stock != rules.UNLIMITED:  # taken last: a refusal above leaves nothing (a rolled-back tx)
            item.stock -= r.quantity
        rid = f"r-{uuid.uuid4().hex[:20]}"
        self.redemptions[rid] = Redemption(
            id=rid, merchant_id=r.merchant_id, request_id=r.request_id, fingerprint=r.fingerprint,
            terminal_id=r.terminal_id, community_path=r.member.community_path, volunteer_id=r.member.volunteer_id,
            masked_member=r.member.masked_member, reward_id=r.reward_id, reward_name=item.display_name,
            quantity=r.quantity, points=points, state=PENDING, hold_id=f"redemption:{rid}", create_time=r.now)
        return copy(self.redemptions[rid])

    async def mark_hold_placed(self, redemption_id: str) -> bool:
        row = self.redemptions[redemption_id]
        if row.state != PENDING:
            return False
        row.hold_placed = True
        return True

    async def void(self, row: Redemption, reason: str, message: str, *, only_unplaced: bool) -> bool:
        stored = self.redemptions[row.id]
        if stored.state != PENDING or (only_unplaced and stored.hold_placed):
            return False
        stored.state, stored.void_reason, stored.void_message, stored.stock_returned = VOIDED, reason, message, True
        self._give_back(stored)
        return True

    def _give_back(self, row: Redemption) -> None:
        item = self.rewards[(row.merchant_id, row.reward_id)]
        if item.stock != rules.UNLIMITED:
            item.stock += row.quantity

    async def commit(self, redemption_id: str, transfer_id: str, now: datetime, ledger_day: str,
                     event: EventEnvelope) -> Redemption | None:
        if self.fail_commit is not None:
            failure, self.fail_commit = self.fail_commit, None
            raise failure
        stored = self.redemptions[redemption_id]
        if stored.state != PENDING:
            return None
        stored.state, stored.transfer_id, stored.hold_placed = COMMITTED, transfer_id, True
        stored.commit_time, stored.ledger_day = now, ledger_day
        self.events.append(event)
        return copy(stored)

    async def reserve_refund(self, reservation: RefundReservation) -> Refund:
        r = reservation
        for existing in self.refunds.values():
            if (existing.merchant_id, existing.request_id) == (r.merchant_id, r.request_id):
                return copy(existing)
        row = self.redemptions.get(r.redemption_id)
        if row is None or row.merchant_id != r.merchant_id:
            raise NotFound(f"no redemption {r.redemption_id} at merchant {r.merchant_id}",
                           reason="REDEMPTION_NOT_FOUND")
        amount = rules.refund_amount(row, r.points, r.now, r.window)
        if amount == row.points - row.refunded_points:
            self._give_back(row)
        row.refunded_points += amount
        fid = f"rf-{uuid.uuid4().hex[:20]}"
        self.refunds[fid] = Refund(id=fid, redemption_id=row.id, merchant_id=r.merchant_id, request_id=r.request_id,
                                   fingerprint=r.fingerprint, community_path=row.community_path, points=amount,
                                   reason=r.reason, create_time=r.now)
        return copy(self.refunds[fid])

    async def complete_refund(self, refund_id: str, transfer_id: str, ledger_day: str,
                              event: EventEnvelope) -> bool:
        stored = self.refunds[refund_id]
        if stored.completed:
            return False
        stored.completed, stored.transfer_id, stored.ledger_day = True, transfer_id, ledger_day
        self.events.append(event)
        return True


def member_session(session_id: str, terminal_id: str, volunteer_id: str, community_path: str, merchant_id: str,
                   now: datetime, ttl: timedelta = timedelta(minutes=10)) -> MemberSession:
    return MemberSession(id=session_id, card_number="12345678", step=1, terminal_id=terminal_id,
                         merchant_id=merchant_id, community_path=community_path, volunteer_id=volunteer_id,
                         masked_member="王*英", expire_time=now + ttl)

