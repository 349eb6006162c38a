"""`points.Points` over gRPC: volunteer-points' LedgerService and VolunteerService.

The one module that knows volunteer-points' protos and status codes. Messages become
`points` values, and status codes become `points` errors in one place (`translate`):
codes that say the ledger decided become `PointsRefused` (or the kind the saga branches on),
every other code leaves the outcome unknown and becomes `PointsUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from linli.points.v1 import ledger_pb2 as lpb
from linli.points.v1 import ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli_redemption.points import (
    CLEARING,
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
    volunteer_account,
)
from linli_runtime.errors import Unavailable
from linli_runtime.group_commit import GroupCommit
from linli_runtime.times import as_utc

SUMMED_PER_CALL = 1000  # communities per SummarizeAccountDays (its limit)
R = TypeVar("R", bound=Message)

# Codes that say the ledger decided: anything else leaves the outcome unknown.
DECIDED = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                     grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED})
# ErrorInfo reasons the saga tells apart.
REFUSALS: dict[str, type[PointsRefused]] = {"INSUFFICIENT_POINTS": InsufficientPoints, "HOLD_POSTED": HoldPosted}

HOLD_STATES = {lpb.HOLD_STATE_PENDING: HoldState.PENDING, lpb.HOLD_STATE_POSTED: HoldState.POSTED,
               lpb.HOLD_STATE_VOIDED: HoldState.VOIDED, lpb.HOLD_STATE_EXPIRED: HoldState.EXPIRED}
TRANSFER_KINDS = {lpb.TRANSFER_KIND_DIRECT: TransferKind.DIRECT, lpb.TRANSFER_KIND_PENDING: TransferKind.PENDING,
                  lpb.TRANSFER_KIND_POST: TransferKind.POST, lpb.TRANSFER_KIND_VOID: TransferKind.VOID,
                  lpb.TRANSFER_KIND_REVERSAL: TransferKind.REVERSAL}


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason in a status's rich details ("" when there is none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an AioRpcError is call-like enough
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def translate(error: grpc.aio.AioRpcError, what: str) -> Exception:
    """The domain error for a failed call to volunteer-points."""
    code = error.code()
    if code not in DECIDED:
        return PointsUnavailable(what)
    reason, message = error_reason(error), error.details() or ""
    if code == grpc.StatusCode.NOT_FOUND:
        return PointsNotFound(reason or "NOT_FOUND", message)
    return REFUSALS.get(reason, PointsRefused)(reason or code.name, message)


def hold_of(message: lpb.Hold) -> Hold:
    # A state this service does not know (a newer ledger) is treated as pending: recovery asks again.
    return Hold(hold_id=message.hold_id, state=HOLD_STATES.get(message.state, HoldState.PENDING),
                amount=int(message.amount),
                create_time=as_utc(message.create_time.ToDatetime()) if message.HasField("create_time") else None,
                expire_time=as_utc(message.expire_time.ToDatetime()) if message.HasField("expire_time") else None)


def transfer_of(message: lpb.Transfer) -> Transfer:
    return Transfer(transfer_id=message.transfer_id, kind=TRANSFER_KINDS.get(message.kind, TransferKind.OTHER),
                    amount=int(message.amount), create_time=as_utc(message.create_time.ToDatetime()))


_DECIDED_CODES = frozenset(code.value[0] for code in DECIDED)


def refusal_of(refusal: lpb.TransferRefusal) -> PointsRefused | PointsUnavailable:
    """One refused item of a batch call, as `translate` makes the same refusal of a single call."""
    if refusal.code not in _DECIDED_CODES:
        return PointsUnavailable("PlaceHolds")
    if refusal.code == grpc.StatusCode.NOT_FOUND.value[0]:
        return PointsNotFound(refusal.reason or "NOT_FOUND", refusal.message)
    return REFUSALS.get(refusal.reason, PointsRefused)(refusal.reason or "REFUSED", refusal.message)


@dataclass(frozen=True)
class _HoldAsk:
    community: str
    request: lpb.PlaceHoldRequest


class PointsClient:
    """Bound to its channel at start-up (`bind`): gRPC channels belong to the running loop.

    Concurrent `place_hold`s (the redeems of one batch, group commit) go as one PlaceHolds call
    per community: one round trip and one server call for the batch, each hold still answered
    (or refused) on its own."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.ledger: Any = None
        self.volunteers: Any = None
        self._holds: GroupCommit[_HoldAsk, Hold] = GroupCommit(self._place_holds, max_batch=64)

    def bind(self, channel: grpc.aio.Channel) -> None:
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)

    async def _call(self, what: str, method: Callable[..., Awaitable[R]], request: Message, *,
                    timeout: float | None = None) -> R:
        try:
            return await method(request, timeout=timeout or self.timeout)
        except grpc.aio.AioRpcError as error:
            raise translate(error, what) from error
        except Unavailable as error:  # no token from the issuer: the call never left, retry later
            raise PointsUnavailable(what) from error

    async def place_hold(self, community: str, hold_id: str, volunteer_id: str, amount: int,
                         timeout_seconds: int, source: str) -> Hold:
        return await self._holds(_HoldAsk(community, lpb.PlaceHoldRequest(
            hold_id=hold_id, debit_account=volunteer_account(volunteer_id), credit_account=CLEARING, amount=amount,
            timeout_seconds=timeout_seconds, reason="redemption", source=source)))

    async def _place_holds(self, asks: Sequence[_HoldAsk]) -> list[Hold | BaseException]:
        """A batch of holds: one PlaceHolds per community in it (concurrently). A call that fails
        as a whole leaves each of its holds' outcome unknown, as a failed PlaceHold does."""
        by_community: dict[str, list[int]] = {}
        for i, ask in enumerate(asks):
            by_community.setdefault(ask.community, []).append(i)
        out: list[Hold | BaseException] = [PointsUnavailable("PlaceHolds")] * len(asks)

        async def call(community: str, items: list[int]) -> None:
            try:
                reply: lpb.PlaceHoldsResponse = await self._call(
                    "PlaceHolds", self.ledger.PlaceHolds, lpb.PlaceHoldsRequest(
                        community_path=community, holds=[asks[i].request for i in items]))
            except PointsRefused as refused:  # the call as a whole (a malformed community, a principal's scope)
                for i in items:
                    out[i] = refused
                return
            except PointsUnavailable as unknown:
                for i in items:
                    out[i] = unknown
                return
            for i, result in zip(items, reply.results, strict=True):
                out[i] = refusal_of(result.refusal) if result.HasField("refusal") else hold_of(result.hold)

        await asyncio.gather(*(call(community, items) for community, items in by_community.items()))
        return out

    async def post_hold(self, community: str, hold_id: str) -> Transfer:
        reply: lpb.PostHoldResponse = await self._call(
            "PostHold", self.ledger.PostHold, lpb.PostHoldRequest(community_path=community, hold_id=hold_id))
        return transfer_of(reply.transfer)

    async def void_hold(self, community: str, hold_id: str) -> Hold:
        reply: lpb.VoidHoldResponse = await self._call(
            "VoidHold", self.ledger.VoidHold, lpb.VoidHoldRequest(community_path=community, hold_id=hold_id))
        return hold_of(reply.hold)

    async def get_hold(self, community: str, hold_id: str) -> Hold | None:
        try:
            reply: lpb.GetHoldResponse = await self._call(
                "GetHold", self.ledger.GetHold, lpb.GetHoldRequest(community_path=community, hold_id=hold_id))
        except PointsNotFound:
            return None
        return hold_of(reply.hold)

    async def reverse(self, community: str, transfer_id: str, reversed_id: str, amount: int,
                      reason: str) -> Transfer:
        reply: lpb.ReverseTransferResponse = await self._call(
            "ReverseTransfer", self.ledger.ReverseTransfer, lpb.ReverseTransferRequest(
                community_path=community, transfer_id=transfer_id, reversed_transfer_id=reversed_id,
                amount=amount, reason=reason))
        return transfer_of(reply.transfer)

    async def available(self, community: str, volunteer_id: str) -> int:
        reply: lpb.GetBalanceResponse = await self._call("GetBalance", self.ledger.GetBalance, lpb.GetBalanceRequest(
            community_path=community, account=volunteer_account(volunteer_id)))
        return int(reply.available)

    async def clearing_totals(self, communities: list[str], first: str, last: str, *,
                              timeout: float | None = None) -> list[ClearingDay]:
        chunks = [communities[i:i + SUMMED_PER_CALL] for i in range(0, len(communities), SUMMED_PER_CALL)]
        replies: list[lpb.SummarizeAccountDaysResponse] = await asyncio.gather(*(self._call(
            "SummarizeAccountDays", self.ledger.SummarizeAccountDays, lpb.SummarizeAccountDaysRequest(
                community_paths=chunk, account=CLEARING, start_date=first, end_date=last), timeout=timeout)
            for chunk in chunks))
        days: dict[tuple[str, str], list[int]] = {}
        for reply in replies:
            for t in reply.totals:
                if t.kind in (lpb.TRANSFER_KIND_POST, lpb.TRANSFER_KIND_REVERSAL):  # as `settlement.movement`
                    moved = days.setdefault((t.community_path, t.date), [0, 0])
                    moved[0] += t.credited_points
                    moved[1] += t.debited_points
        return [ClearingDay(path, day, redeemed, refunded)
                for (path, day), (redeemed, refunded) in sorted(days.items())]

    async def volunteer_name(self, community: str, volunteer_id: str) -> str:
        reply: volunteers_pb2.GetVolunteerResponse = await self._call(
            "GetVolunteer", self.volunteers.GetVolunteer, volunteers_pb2.GetVolunteerRequest(
                community_path=community, volunteer_id=volunteer_id))
        return str(reply.volunteer.display_name)

    async def volunteer_account(self, community: str, volunteer_id: str) -> str:
        reply: volunteers_pb2.GetVolunteerResponse = await self._call(
            "GetVolunteer", self.volunteers.GetVolunteer, volunteers_pb2.GetVolunteerRequest(
                community_path=community, volunteer_id=volunteer_id))
        return str(reply.volunteer.account_id)

    async def clearing_days(self, community: str, first: str, last: str) -> AsyncIterator[ClearingEntry]:
        token = ""
        while True:
            reply: lpb.ListDayTransfersResponse = await self._call(
                "ListDayTransfers", self.ledger.ListDayTransfers, lpb.ListDayTransfersRequest(
                    community_path=community, account=CLEARING, start_date=first, end_date=last, page_size=1000,
                    page_token=token))
            for entry in reply.entries:
                yield ClearingEntry(transfer=transfer_of(entry.transfer), change=int(entry.change))
            token = reply.next_page_token
            if not token:
                return
