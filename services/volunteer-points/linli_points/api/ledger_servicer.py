"""linli.points.v1.LedgerService: request checks, scope and role, then the ledger."""

from __future__ import annotations

from datetime import datetime, time
from typing import cast

import grpc

from linli.points.v1 import ledger_pb2 as pb
from linli.points.v1 import ledger_pb2_grpc
from linli_points.api.common import (
    community,
    page_size,
    parse_date,
    require_writer,
    text,
    timestamp,
)
from linli_points.ledger.accounts import check_account, check_id, volunteer_of
from linli_points.ledger.model import MAX_AMOUNT, Hold, Kind, Transfer, TransferRequest
from linli_points.ledger.store import Ledger, in_slots
from linli_points.periods import CHINA, local
from linli_runtime import paging
from linli_runtime.auth import Role, caller, require_role
from linli_runtime.errors import InvalidArgument, PermissionDenied

FULL_NAME = pb.DESCRIPTOR.services_by_name["LedgerService"].full_name
MAX_HOLD_SECONDS = 86_400

# Roles that may read any account of a community within their scope.
READERS = (Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER, Role.PARTY_COMMITTEE)


def transfer_pb(t: Transfer) -> pb.Transfer:
    return pb.Transfer(
        transfer_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
        credit_account=t.credit_account, amount=t.amount, kind=cast(pb.TransferKind.ValueType, int(t.kind)),
        reason=t.reason, source=t.source,
        related_transfer_id=t.related_transfer_id, create_time=timestamp(t.created_at), sequence=t.seq,
    )


def hold_pb(h: Hold) -> pb.Hold:
    t = h.transfer
    return pb.Hold(
        hold_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
        credit_account=t.credit_account, amount=t.amount, state=cast(pb.HoldState.ValueType, int(h.state)),
        reason=t.reason, source=t.source,
        create_time=timestamp(t.created_at), expire_time=timestamp(h.expires_at),
        resolve_time=timestamp(h.resolved_at),
    )


def _amount(value: int, field: str = "amount") -> int:
    if not 1 <= value <= MAX_AMOUNT:
        raise InvalidArgument.field(field, f"must be between 1 and {MAX_AMOUNT} points")
    return value


def _accounts(debit: str, credit: str) -> tuple[str, str]:
    check_account("debit_account", debit)
    check_account("credit_account", credit)
    if debit == credit:
        raise InvalidArgument.field("credit_account", "must differ from debit_account")
    return debit, credit


def _writer() -> None:
    """Ledger writes are for services (partner-redemption, this service's own flows) and
    platform administrators; operators change points through activities and adjustments."""
    require_role()


def _reader(account: str) -> None:
    """Operators read any account in scope; a volunteer reads only their own."""
    who = caller()
    if who.role == Role.VOLUNTEER:
        if volunteer_of(account) != who.subject:
            raise PermissionDenied("a volunteer may read only their own account", reason="NOT_OWN_ACCOUNT")
        return
    require_role(*READERS)


def _decode_history_token(token: str) -> tuple[int, int | None]:
    """(after seq, running balance if the token carries one) of a ListTransfers page token:
    its key is `seq` or, for system accounts, `seq@balance`."""
    key = paging.decode_token("transfers", token)
    if not key:
        return 0, None
    seq, carries, balance = key.partition("@")
    if seq.isdigit() and len(seq) <= 18 and (
            not carries or (balance.lstrip("-").isdigit() and len(balance) <= 19)):
        return int(seq), int(balance) if carries else None
    raise InvalidArgument.field("page_token", "is not a token this list returned; start again without one")


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def CreateTransfer(
        self, request: pb.CreateTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTransferResponse:
        path = community(request.community_path)
        _writer()
        check_id("transfer_id", request.transfer_id)
        debit, credit = _accounts(request.debit_account, request.credit_account)
        recorded = await self.ledger.transfer(
            TransferRequest(
                community_path=path, transfer_id=request.transfer_id, debit_account=debit, credit_account=credit,
                amount=_amount(request.amount), kind=Kind.DIRECT, reason=text("reason", request.reason, 100),
                source=text("source", request.source, 200),
            )
        )
        return pb.CreateTransferResponse(transfer=transfer_pb(recorded.transfer), created=recorded.created)

    async def ReverseTransfer(
        self, request: pb.ReverseTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReverseTransferResponse:
        path = community(request.community_path)
        _writer()
        check_id("transfer_id", request.transfer_id)
        if not 1 <= len(request.reversed_transfer_id) <= 160:
            raise InvalidArgument.field("reversed_transfer_id", "is required (at most 160 characters)")
        if request.amount < 0 or request.amount > MAX_AMOUNT:
            raise InvalidArgument.field("amount", f"must be between 0 (all) and {MAX_AMOUNT}")
        reason = text("reason", request.reason, 100, required=True)
        recorded = await self.ledger.reverse(
            path, request.transfer_id, request.reversed_transfer_id, request.amount, reason
        )
        return pb.ReverseTransferResponse(transfer=transfer_pb(recorded.transfer), created=recorded.created)

    async def PlaceHold(self, request: pb.PlaceHoldRequest, context: grpc.aio.ServicerContext) -> pb.PlaceHoldResponse:
        path = community(request.community_path)
        _writer()
        check_id("hold_id", request.hold_id)
        debit, credit = _accounts(request.debit_account, request.credit_account)
        if not 1 <= request.timeout_seconds <= MAX_HOLD_SECONDS:
            raise InvalidArgument.field("timeout_seconds", f"must be between 1 and {MAX_HOLD_SECONDS}")
        hold, created = await self.ledger.place_hold(
            TransferRequest(
                community_path=path, transfer_id=request.hold_id, debit_account=debit, credit_account=credit,
                amount=_amount(request.amount), kind=Kind.PENDING, reason=text("reason", request.reason, 100),
                source=text("source", request.source, 200), timeout_seconds=request.timeout_seconds,
            )
        )
        return pb.PlaceHoldResponse(hold=hold_pb(hold), created=created)

    async def PostHold(self, request: pb.PostHoldRequest, context: grpc.aio.ServicerContext) -> pb.PostHoldResponse:
        path = community(request.community_path)
        _writer()
        resolution = await self.ledger.post_hold(path, check_id("hold_id", request.hold_id))
        return pb.PostHoldResponse(hold=hold_pb(resolution.hold), transfer=transfer_pb(resolution.transfer))

    async def VoidHold(self, request: pb.VoidHoldRequest, context: grpc.aio.ServicerContext) -> pb.VoidHoldResponse:
        path = community(request.community_path)
        _writer()
        resolution = await self.ledger.void_hold(path, check_id("hold_id", request.hold_id))
        return pb.VoidHoldResponse(hold=hold_pb(resolution.hold), transfer=transfer_pb(resolution.transfer))

    async def ExpirePoints(
        self, request: pb.ExpirePointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExpirePointsResponse:
        path = community(request.community_path)
        require_writer()
        cutoff_day = parse_date("earned_before", request.earned_before)
        if cutoff_day > local(self.ledger.now()).date() or cutoff_day.year < 2000:
            raise InvalidArgument.field("earned_before", "must be a day from 2000 on, not in the future")
        cutoff = datetime.combine(cutoff_day, time(), CHINA)
        affected, expired = await self.ledger.expire_points(path, cutoff, cutoff_day.isoformat())
        return pb.ExpirePointsResponse(volunteers_affected=affected, points_expired=expired)

    async def GetHold(self, request: pb.GetHoldRequest, context: grpc.aio.ServicerContext) -> pb.GetHoldResponse:
        path = community(request.community_path)
        hold_id = check_id("hold_id", request.hold_id)
        hold = await self.ledger.get_hold(path, hold_id)
        _reader(hold.transfer.debit_account)
        return pb.GetHoldResponse(hold=hold_pb(hold))

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBalanceResponse:
        path = community(request.community_path)
        account = check_account("account", request.account)
        _reader(account)
        b = await self.ledger.balance(path, account)
        return pb.GetBalanceResponse(
            community_path=path, account=account, balance=b.balance, available=b.available, held=b.held,
            earned=b.earned,
        )

    async def ListTransfers(
        self, request: pb.ListTransfersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTransfersResponse:
        path = community(request.community_path)
        account = check_account("account", request.account)
        _reader(account)
        size = page_size(request.page_size)
        after, balance = _decode_history_token(request.page_token)
        entries, last = await self.ledger.history(path, account, after, size,
                                                  balance_before=balance if in_slots(account) else None)
        next_token = ""
        if last:
            # System accounts carry the running balance: the next page need not sum the past.
            key = f"{last}@{entries[-1].balance_after}" if in_slots(account) else str(last)
            next_token = paging.encode_token("transfers", key)
        return pb.ListTransfersResponse(
            entries=[
                pb.HistoryEntry(transfer=transfer_pb(e.transfer), change=e.change, balance_after=e.balance_after)
                for e in entries
            ],
            next_page_token=next_token,
        )
