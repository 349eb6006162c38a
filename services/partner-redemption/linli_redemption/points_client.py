"""volunteer-points over gRPC: the ledger's holds, transfers and balances, and volunteers'
names. Statuses that mean "the outcome is unknown" (UNAVAILABLE, DEADLINE_EXCEEDED, …)
become `LedgerUnavailable`; refusals keep their ErrorInfo reason so callers can decide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from linli.points.v1 import ledger_pb2 as lpb
from linli.points.v1 import ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli_runtime.errors import Unavailable

CLEARING = "system/redemption-clearing"


def volunteer_account(volunteer_id: str) -> str:
    return f"volunteers/{volunteer_id}"


class LedgerUnavailable(Unavailable):
    def __init__(self, what: str) -> None:
        super().__init__(f"volunteer-points did not answer ({what}); retry with the same request id",
                         reason="LEDGER_UNAVAILABLE")


class LedgerRefusal(Exception):
    """The ledger refused the call (its decision is final for this request)."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(f"{code.name} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


# Codes that say the ledger decided: anything else leaves the outcome unknown.
DECIDED = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
           grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED}


class PointsClient:
    """Bound to its channel at start-up (`bind`): gRPC channels belong to the running loop."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.ledger: Any = None
        self.volunteers: Any = None

    def bind(self, channel: grpc.aio.Channel) -> None:
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)

    async def _call(self, what: str, method: object, request: object) -> object:
        try:
            return await method(request, timeout=self.timeout)  # type: ignore[operator]
        except grpc.aio.AioRpcError as error:
            if error.code() in DECIDED:
                raise LedgerRefusal(error.code(), _reason(error), error.details() or "") from error
            raise LedgerUnavailable(what) from error

    async def place_hold(self, community: str, hold_id: str, volunteer_id: str, amount: int,
                         timeout_seconds: int, source: str) -> lpb.Hold:
        reply = await self._call("PlaceHold", self.ledger.PlaceHold, lpb.PlaceHoldRequest(
            community_path=community, hold_id=hold_id, debit_account=volunteer_account(volunteer_id),
            credit_account=CLEARING, amount=amount, timeout_seconds=timeout_seconds,
            reason="redemption", source=source))
        return reply.hold  # type: ignore[attr-defined,no-any-return]

    async def post_hold(self, community: str, hold_id: str) -> lpb.PostHoldResponse:
        reply = await self._call("PostHold", self.ledger.PostHold,
                                 lpb.PostHoldRequest(community_path=community, hold_id=hold_id))
        return reply  # type: ignore[return-value]

    async def void_hold(self, community: str, hold_id: str) -> lpb.Hold:
        reply = await self._call("VoidHold", self.ledger.VoidHold,
                                 lpb.VoidHoldRequest(community_path=community, hold_id=hold_id))
        return reply.hold  # type: ignore[attr-defined,no-any-return]

    async def get_hold(self, community: str, hold_id: str) -> lpb.Hold | None:
        try:
            reply = await self._call("GetHold", self.ledger.GetHold,
                                     lpb.GetHoldRequest(community_path=community, hold_id=hold_id))
        except LedgerRefusal as refusal:
            if refusal.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.hold  # type: ignore[attr-defined,no-any-return]

    async def reverse(self, community: str, transfer_id: str, reversed_id: str, amount: int,
                      reason: str) -> lpb.Transfer:
        reply = await self._call("ReverseTransfer", self.ledger.ReverseTransfer, lpb.ReverseTransferRequest(
            community_path=community, transfer_id=transfer_id, reversed_transfer_id=reversed_id,
            amount=amount, reason=reason))
        return reply.transfer  # type: ignore[attr-defined,no-any-return]

    async def available(self, community: str, volunteer_id: str) -> int:
        reply = await self._call("GetBalance", self.ledger.GetBalance, lpb.GetBalanceRequest(
            community_path=community, account=volunteer_account(volunteer_id)))
        return int(reply.available)  # type: ignore[attr-defined]

    async def volunteer_name(self, community: str, volunteer_id: str) -> str:
        reply = await self._call("GetVolunteer", self.volunteers.GetVolunteer, volunteers_pb2.GetVolunteerRequest(
            community_path=community, volunteer_id=volunteer_id))
        return str(reply.volunteer.display_name)  # type: ignore[attr-defined]

    async def clearing_history(self, community: str) -> AsyncIterator[lpb.HistoryEntry]:
        """Every transfer touching the redemption clearing account, oldest first."""
        token = ""
        while True:
            reply = await self._call("ListTransfers", self.ledger.ListTransfers, lpb.ListTransfersRequest(
                community_path=community, account=CLEARING, page_size=1000, page_token=token))
            for entry in reply.entries:  # type: ignore[attr-defined]
                yield entry
            token = reply.next_page_token  # type: ignore[attr-defined]
            if not token:
                return
