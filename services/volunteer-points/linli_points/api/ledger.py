"""linli.points.v1.LedgerService: request checks, scope and role, then the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from linli.points.v1 import ledger_pb2 as pb
from linli.points.v1 import ledger_pb2_grpc
from linli_points.api.access import account_reader, ledger_writer, reader, writer
from linli_points.api.convert import WrittenResults, hold_pb, transfer_pb
from linli_points.ledger import queries
from linli_points.ledger.accounts import check_account
from linli_points.ledger.model import MAX_AMOUNT, Kind, TransferRequest, Written
from linli_points.ledger.store import Ledger, in_slots
from linli_points.people import People
from linli_runtime import paging
from linli_runtime.auth import reach
from linli_runtime.errors import DomainError, InvalidArgument
from linli_runtime.fields import ID, ident, in_range, text
from linli_runtime.memory import collector_paused
from linli_runtime.names import org_path
from linli_runtime.times import day_bounds, local_day, parse_date

FULL_NAME = pb.DESCRIPTOR.services_by_name["LedgerService"].full_name
MAX_HOLD_SECONDS = 86_400
MAX_COMMUNITIES_SUMMED = 1000  # per SummarizeAccountDays: the city's 5000 communities in 5 calls
MAX_DAYS_SUMMED = 31  # per SummarizeAccountDays: the dashboard's last 7 or 30 days
MAX_DAYS_READ = 7  # days per ListDayTransfers: a week of a community's rows at most
MAX_BATCH = 10_000  # transfers per CreateTransfers: one transaction, about 2 MB of answer at most (8 MB allowed)


def _amount(value: int, field: str = "amount") -> int:
    return in_range(field, value, 1, MAX_AMOUNT)


def _accounts(debit: str, credit: str, prefix: str = "") -> tuple[str, str]:
    check_account(f"{prefix}debit_account", debit)
    check_account(f"{prefix}credit_account", credit)
    if debit == credit:
        raise InvalidArgument.field(f"{prefix}credit_account", f"must differ from {prefix}debit_account")
    return debit, credit


def _transfer_request(path: str, request: pb.CreateTransferRequest, prefix: str = "") -> TransferRequest:
    """A CreateTransfer's fields checked (`prefix`: where they sit in a batch, `transfers[3].`)."""
    ident(f"{prefix}transfer_id", request.transfer_id)
    debit, credit = _accounts(request.debit_account, request.credit_account, prefix)
    return TransferRequest(
        community_path=path, transfer_id=request.transfer_id, debit_account=debit, credit_account=credit,
        amount=_amount(request.amount, f"{prefix}amount"), kind=Kind.DIRECT,
        reason=text(f"{prefix}reason", request.reason, 100, strip=False),
        source=text(f"{prefix}source", request.source, 200, strip=False),
    )


def _hold_request(path: str, request: pb.PlaceHoldRequest, prefix: str = "") -> TransferRequest:
    """A PlaceHold's fields checked (`prefix`: where they sit in a batch, `holds[3].`)."""
    ident(f"{prefix}hold_id", request.hold_id)
    debit, credit = _accounts(request.debit_account, request.credit_account, prefix)
    in_range(f"{prefix}timeout_seconds", request.timeout_seconds, 1, MAX_HOLD_SECONDS)
    return TransferRequest(
        community_path=path, transfer_id=request.hold_id, debit_account=debit, credit_account=credit,
        amount=_amount(request.amount, f"{prefix}amount"), kind=Kind.PENDING,
        reason=text(f"{prefix}reason", request.reason, 100, strip=False),
        source=text(f"{prefix}source", request.source, 200, strip=False), timeout_seconds=request.timeout_seconds,
    )


def _refusal_of_item(path: str, item: pb.CreateTransferRequest, i: int) -> DomainError:
    """Why item `i` of a CreateTransfers is malformed, its fields named where they sit in the
    batch (`transfers[3].amount`): the checks run again with that prefix, only for a refused item
    (formatting it for each of 10 000 items cost more than the checks)."""
    prefix = f"transfers[{i}]."
    try:
        if item.community_path and org_path(f"{prefix}community_path", item.community_path) != path:
            raise InvalidArgument.field(f"{prefix}community_path", f"must be empty or {path}: a batch "
                                        "moves points within one community")
        _transfer_request(path, item, prefix)
    except DomainError as error:
        return error
    raise AssertionError("a transfer refused without its prefix passes with it")


def _batch_requests(path: str, items: Sequence[pb.CreateTransferRequest]) -> list[TransferRequest | DomainError]:
    """A CreateTransfers' items checked as `_transfer_request` checks one, each account name once
    per call (a batch names a few hundred accounts over 10 000 transfers: issue 18, the checks
    were a tenth of the call's CPU). A malformed transfer is refused alone, like one refused by
    the ledger; anything the quick checks doubt goes through the full ones."""
    outcomes: list[TransferRequest | DomainError] = []
    accounts: set[str] = set()  # names that passed check_account
    id_ok = ID.match
    # Each request made as its NamedTuple's generated __new__ makes it, without that Python
    # call: half the cost, 10 000 times a call.
    new, direct = tuple.__new__, Kind.DIRECT
    for i, item in enumerate(items):
        tid, debit, credit, amount = item.transfer_id, item.debit_account, item.credit_account, item.amount
        reason, source, community = item.reason, item.source, item.community_path
        if ((not community or community == path) and id_ok(tid) and debit != credit
                and (debit in accounts or _known(debit, accounts)) and (credit in accounts or _known(credit, accounts))
                and 1 <= amount <= MAX_AMOUNT and len(reason) <= 100 and len(source) <= 200
                and "\x00" not in reason and "\x00" not in source):
            outcomes.append(new(TransferRequest, (path, tid, debit, credit, amount, direct, reason, source, "", 0)))
            continue
        try:
            if community and community != path and org_path("community_path", community) != path:
                raise InvalidArgument.field("community_path", "another community")  # named below
            outcomes.append(_transfer_request(path, item))
        except DomainError:
            outcomes.append(_refusal_of_item(path, item, i))
    return outcomes


def _known(name: str, accounts: set[str]) -> bool:
    """Whether `name` names an account (then kept in `accounts`)."""
    try:
        check_account("account", name)
    except DomainError:
        return False
    accounts.add(name)
    return True


def _refusal(error: DomainError) -> pb.TransferRefusal:
    return pb.TransferRefusal(code=error.code.value[0], reason=error.reason, message=error.message,
                              field=error.violations[0].field if error.violations else "")


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
    def __init__(self, ledger: Ledger, people: People) -> None:
        self.ledger = ledger
        self.people = people

    async def CreateTransfer(
        self, request: pb.CreateTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTransferResponse:
        path = ledger_writer(request.community_path)
        recorded = await self.ledger.transfer(_transfer_request(path, request))
        return pb.CreateTransferResponse(transfer=transfer_pb(recorded.transfer), created=recorded.created)

    async def CreateTransfers(
        self, request: pb.CreateTransfersRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTransfersResponse:
        path = ledger_writer(request.community_path)
        if not 1 <= len(request.transfers) <= MAX_BATCH:
            raise InvalidArgument.field("transfers",
                                        f"must hold 1-{MAX_BATCH} transfers (got {len(request.transfers)})")
        with collector_paused():  # its 10 000 transfers' objects live until it answers
            return await self._create_transfers(path, request)

    async def _create_transfers(self, path: str, request: pb.CreateTransfersRequest) -> pb.CreateTransfersResponse:
        outcomes = _batch_requests(path, request.transfers)
        valid = [o for o in outcomes if isinstance(o, TransferRequest)]
        recorded = iter(await self.ledger.record_many(valid) if valid else [])
        # The answer's messages are made in place (results.add), the written ones from what the
        # batch recorded (convert.WrittenResults).
        response = pb.CreateTransfersResponse()
        written = WrittenResults(response.results)
        add = response.results.add
        for outcome in outcomes:
            result = next(recorded) if isinstance(outcome, TransferRequest) else outcome
            if isinstance(result, Written):
                written.add(result)
            elif isinstance(result, DomainError):
                add(refusal=_refusal(result))
            else:
                add(transfer=transfer_pb(result.transfer), created=result.created)
        return response

    async def ReverseTransfer(
        self, request: pb.ReverseTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReverseTransferResponse:
        path = ledger_writer(request.community_path)
        ident("transfer_id", request.transfer_id)
        if not 1 <= len(request.reversed_transfer_id) <= 160:
            raise InvalidArgument.field("reversed_transfer_id", "is required (at most 160 characters)")
        if request.amount < 0 or request.amount > MAX_AMOUNT:
            raise InvalidArgument.field("amount", f"must be between 0 (all) and {MAX_AMOUNT}")
        reason = text("reason", request.reason, 100, required=True, strip=False)
        recorded = await self.ledger.reverse(
            path, request.transfer_id, request.reversed_transfer_id, request.amount, reason
        )
        return pb.ReverseTransferResponse(transfer=transfer_pb(recorded.transfer), created=recorded.created)

    async def PlaceHold(self, request: pb.PlaceHoldRequest, context: grpc.aio.ServicerContext) -> pb.PlaceHoldResponse:
        path = ledger_writer(request.community_path)
        hold, created = await self.ledger.place_hold(_hold_request(path, request))
        return pb.PlaceHoldResponse(hold=hold_pb(hold), created=created)

    async def PlaceHolds(
        self, request: pb.PlaceHoldsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlaceHoldsResponse:
        path = ledger_writer(request.community_path)
        if not 1 <= len(request.holds) <= MAX_BATCH:
            raise InvalidArgument.field("holds", f"must hold 1-{MAX_BATCH} holds (got {len(request.holds)})")

        async def place(i: int, item: pb.PlaceHoldRequest) -> pb.PlaceHoldsResult:
            """One hold as PlaceHold places it — the ledger's group commit applies the concurrent
            ones together — or its refusal alone."""
            prefix = f"holds[{i}]."
            try:
                if item.community_path and org_path(f"{prefix}community_path", item.community_path) != path:
                    raise InvalidArgument.field(f"{prefix}community_path", f"must be empty or {path}: a batch "
                                                "holds points within one community")
                hold, created = await self.ledger.place_hold(_hold_request(path, item, prefix))
            except DomainError as error:
                return pb.PlaceHoldsResult(refusal=_refusal(error))
            return pb.PlaceHoldsResult(hold=hold_pb(hold), created=created)

        results = await asyncio.gather(*(place(i, item) for i, item in enumerate(request.holds)))
        return pb.PlaceHoldsResponse(results=results)

    async def PostHold(self, request: pb.PostHoldRequest, context: grpc.aio.ServicerContext) -> pb.PostHoldResponse:
        path = ledger_writer(request.community_path)
        resolution = await self.ledger.post_hold(path, ident("hold_id", request.hold_id))
        return pb.PostHoldResponse(hold=hold_pb(resolution.hold), transfer=transfer_pb(resolution.transfer))

    async def VoidHold(self, request: pb.VoidHoldRequest, context: grpc.aio.ServicerContext) -> pb.VoidHoldResponse:
        path = ledger_writer(request.community_path)
        resolution = await self.ledger.void_hold(path, ident("hold_id", request.hold_id))
        return pb.VoidHoldResponse(hold=hold_pb(resolution.hold), transfer=transfer_pb(resolution.transfer))

    async def ExpirePoints(
        self, request: pb.ExpirePointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExpirePointsResponse:
        path = writer(request.community_path)
        cutoff_day = parse_date("earned_before", request.earned_before)
        if cutoff_day > local_day(self.ledger.now()) or cutoff_day.year < 2000:
            raise InvalidArgument.field("earned_before", "must be a day from 2000 on, not in the future")
        cutoff, _ = day_bounds(cutoff_day)  # midnight starting that day in Asia/Shanghai
        affected, expired = await self.ledger.expire_points(path, cutoff, cutoff_day.isoformat())
        return pb.ExpirePointsResponse(volunteers_affected=affected, points_expired=expired)

    async def GetHold(self, request: pb.GetHoldRequest, context: grpc.aio.ServicerContext) -> pb.GetHoldResponse:
        path = org_path("community_path", request.community_path)
        hold_id = ident("hold_id", request.hold_id)
        reach(path)  # nothing about a community outside the caller's grants, not even whether a hold exists
        hold = await self.ledger.get_hold(path, hold_id)
        await account_reader(self.people, path, hold.transfer.debit_account)
        return pb.GetHoldResponse(hold=hold_pb(hold))

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBalanceResponse:
        account = check_account("account", request.account)
        path = await account_reader(self.people, request.community_path, account)
        b = await self.ledger.balance(path, account)
        return pb.GetBalanceResponse(
            community_path=path, account=account, balance=b.balance, available=b.available, held=b.held,
            earned=b.earned,
        )

    async def ListTransfers(
        self, request: pb.ListTransfersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTransfersResponse:
        account = check_account("account", request.account)
        path = await account_reader(self.people, request.community_path, account)
        size = paging.page_size(request.page_size)
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

    async def ListDayTransfers(
        self, request: pb.ListDayTransfersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDayTransfersResponse:
        account = check_account("account", request.account)
        path = await account_reader(self.people, request.community_path, account)
        first = parse_date("start_date", request.start_date)
        last = parse_date("end_date", request.end_date) if request.end_date else first
        if not 0 <= (last - first).days < MAX_DAYS_READ:
            raise InvalidArgument.field("end_date", f"must be start_date or one of the {MAX_DAYS_READ - 1} days "
                                                    f"after it (got {request.start_date} to {request.end_date})")
        size = paging.page_size(request.page_size)
        key = paging.decode_token("day-transfers", request.page_token)
        if key and not (key.isdigit() and len(key) <= 18):
            raise InvalidArgument.field("page_token", "is not a token this list returned; start again without one")
        entries, last_seq = await queries.account_days(self.ledger.db, path, account,
                                                       (day_bounds(first)[0], day_bounds(last)[1]),
                                                       int(key or 0), size)
        return pb.ListDayTransfersResponse(
            entries=[pb.DayEntry(transfer=transfer_pb(e.transfer), change=e.change) for e in entries],
            next_page_token=paging.encode_token("day-transfers", str(last_seq)) if last_seq else "")

    async def SummarizeAccountDays(
        self, request: pb.SummarizeAccountDaysRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeAccountDaysResponse:
        if not 1 <= len(request.community_paths) <= MAX_COMMUNITIES_SUMMED:
            raise InvalidArgument.field("community_paths", f"give 1 to {MAX_COMMUNITIES_SUMMED} communities per call")
        account = check_account("account", request.account)
        paths = [reader(p, f"community_paths[{i}]") for i, p in enumerate(request.community_paths)]
        if len(set(paths)) != len(paths):
            twice = next(p for p in paths if paths.count(p) > 1)
            raise InvalidArgument.field("community_paths", f"{twice} is named twice; name each community once")
        first = parse_date("start_date", request.start_date)
        last = parse_date("end_date", request.end_date) if request.end_date else first
        if not 0 <= (last - first).days < MAX_DAYS_SUMMED:
            raise InvalidArgument.field("end_date", f"must be start_date or one of the {MAX_DAYS_SUMMED - 1} days "
                                                    f"after it (got {request.start_date} to {request.end_date})")
        totals = await queries.account_day_totals(self.ledger.db, paths, account, first, last)
        return pb.SummarizeAccountDaysResponse(totals=[pb.AccountDayTotal(
            community_path=t.community_path, date=t.day.isoformat(), kind=pb.TransferKind.ValueType(t.kind),
            credited_points=t.credited, debited_points=t.debited, transfer_count=t.transfers) for t in totals])
