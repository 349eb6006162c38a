from __future__ import annotations

from typing import Any

from linli.governance.v1 import account_pb2, account_pb2_grpc
from linli_governance import accounts
from linli_governance.api.base import BOOKKEEPERS, SUPERVISOR_ROLE, Api
from linli_governance.names import (
    HEX64,
    SLUG,
    TOKEN_KIND,
    encode_token,
    optional_text,
    page_size,
    parse_child_name,
    request_id_required,
    require_path,
    require_positive_fen,
    require_text,
)
from linli_runtime import paging
from linli_runtime.auth import Role, require_role, require_scope
from linli_runtime.errors import InvalidArgument

PARTY_ROLES = {
    account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE: Role.OWNERS_COMMITTEE.value,
    account_pb2.APPROVAL_PARTY_SUPERVISOR: SUPERVISOR_ROLE,
}


def _seq_token(token: str) -> int:
    return paging.decode_int_token(TOKEN_KIND, token)


class TrustAccountServicer(Api, account_pb2_grpc.TrustAccountServiceServicer):
    async def GetAccountSettings(
        self, request: account_pb2.GetAccountSettingsRequest, context: Any
    ) -> account_pb2.GetAccountSettingsResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))

        async def body(session: Any) -> account_pb2.GetAccountSettingsResponse:
            return account_pb2.GetAccountSettingsResponse(settings=await accounts.get_settings(session, path))

        return await self.read(body)

    async def UpdateAccountSettings(
        self, request: account_pb2.UpdateAccountSettingsRequest, context: Any
    ) -> account_pb2.UpdateAccountSettingsResponse:
        require_role(*BOOKKEEPERS)
        settings = account_pb2.AccountSettings()
        settings.CopyFrom(request.settings)
        settings.compound_path = require_scope(require_path(settings.compound_path, "settings.compound_path"))
        accounts.validate_settings(settings)

        async def body(session: Any) -> account_pb2.UpdateAccountSettingsResponse:
            return account_pb2.UpdateAccountSettingsResponse(settings=await accounts.update_settings(session, settings))

        return await self.write("UpdateAccountSettings", request, account_pb2.UpdateAccountSettingsResponse, body)

    async def RecordIncome(
        self, request: account_pb2.RecordIncomeRequest, context: Any
    ) -> account_pb2.RecordIncomeResponse:
        require_role(*BOOKKEEPERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if request.category not in accounts.INCOME_ACCOUNTS:
            raise InvalidArgument.field(
                "category", "must be PROPERTY_FEES, PARKING, ADVERTISING, EBIKE_CHARGING or OTHER"
            )
        amount = require_positive_fen(request.amount_fen)
        memo = optional_text(request.memo, "memo")
        request_id_required(request.request_id)

        async def body(session: Any) -> account_pb2.RecordIncomeResponse:
            transfer = await accounts.record_income(session, path, request.category, amount, memo, when=self.now())
            return account_pb2.RecordIncomeResponse(transfer=transfer)

        return await self.write("RecordIncome", request, account_pb2.RecordIncomeResponse, body)

    async def RecordExpense(
        self, request: account_pb2.RecordExpenseRequest, context: Any
    ) -> account_pb2.RecordExpenseResponse:
        require_role(*BOOKKEEPERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if not SLUG.match(request.budget_line):
            raise InvalidArgument.field("budget_line", "must be a budget line code (lowercase slug)")
        amount = require_positive_fen(request.amount_fen)
        memo = optional_text(request.memo, "memo")
        require_text(request.voucher.file_ref, "voucher.file_ref")
        if not HEX64.match(request.voucher.sha256):
            raise InvalidArgument.field("voucher.sha256", "must be the file's SHA-256 as 64 lowercase hex digits")
        if request.owners_decision:
            decision_path, _ = parse_child_name(request.owners_decision, "votes", "owners_decision")
            if decision_path != path:
                raise InvalidArgument.field("owners_decision", "must be a vote of the same compound")
        project_id = ""
        if request.project:
            project_path, project_id = parse_child_name(request.project, "projects", "project")
            if project_path != path:
                raise InvalidArgument.field("project", "must be a project of the same compound")
        request_id_required(request.request_id)

        async def body(session: Any) -> account_pb2.RecordExpenseResponse:
            transfer = await accounts.record_expense(
                session,
                path,
                project_id=project_id,
                budget_line=request.budget_line,
                amount=amount,
                memo=memo,
                voucher=request.voucher,
                owners_decision=request.owners_decision,
                when=self.now(),
            )
            return account_pb2.RecordExpenseResponse(transfer=transfer)

        return await self.write("RecordExpense", request, account_pb2.RecordExpenseResponse, body)

    async def ApproveTransfer(
        self, request: account_pb2.ApproveTransferRequest, context: Any
    ) -> account_pb2.ApproveTransferResponse:
        path, transfer_id = parse_child_name(request.name, "transfers")
        if request.party not in PARTY_ROLES:
            raise InvalidArgument.field("party", "must be OWNERS_COMMITTEE or SUPERVISOR")
        # Each party approves for itself: the committee's token cannot stand in for the supervisor.
        who = require_role(PARTY_ROLES[request.party])
        require_scope(path)
        request_id_required(request.request_id)

        async def body(session: Any) -> account_pb2.ApproveTransferResponse:
            transfer = await accounts.approve(
                session, path, transfer_id, request.party, approver=who.subject, when=self.now()
            )
            return account_pb2.ApproveTransferResponse(transfer=transfer)

        return await self.write("ApproveTransfer", request, account_pb2.ApproveTransferResponse, body)

    async def RejectTransfer(
        self, request: account_pb2.RejectTransferRequest, context: Any
    ) -> account_pb2.RejectTransferResponse:
        path, transfer_id = parse_child_name(request.name, "transfers")
        if request.party not in PARTY_ROLES:
            raise InvalidArgument.field("party", "must be OWNERS_COMMITTEE or SUPERVISOR")
        who = require_role(PARTY_ROLES[request.party])
        require_scope(path)
        reason = require_text(request.reason, "reason")

        async def body(session: Any) -> account_pb2.RejectTransferResponse:
            transfer = await accounts.reject(
                session, path, transfer_id, request.party, reason, who=who.subject, when=self.now()
            )
            return account_pb2.RejectTransferResponse(transfer=transfer)

        return await self.write("RejectTransfer", request, account_pb2.RejectTransferResponse, body)

    async def ReverseTransfer(
        self, request: account_pb2.ReverseTransferRequest, context: Any
    ) -> account_pb2.ReverseTransferResponse:
        require_role(*BOOKKEEPERS)
        path, transfer_id = parse_child_name(request.name, "transfers")
        require_scope(path)
        reason = require_text(request.reason, "reason")
        request_id_required(request.request_id)

        async def body(session: Any) -> account_pb2.ReverseTransferResponse:
            transfer = await accounts.reverse(session, path, transfer_id, reason, when=self.now())
            return account_pb2.ReverseTransferResponse(transfer=transfer)

        return await self.write("ReverseTransfer", request, account_pb2.ReverseTransferResponse, body)

    async def GetTransfer(
        self, request: account_pb2.GetTransferRequest, context: Any
    ) -> account_pb2.GetTransferResponse:
        path, transfer_id = parse_child_name(request.name, "transfers")
        require_scope(path)

        async def body(session: Any) -> account_pb2.GetTransferResponse:
            return account_pb2.GetTransferResponse(transfer=await accounts.get_transfer(session, path, transfer_id))

        return await self.read(body)

    async def ListTransfers(
        self, request: account_pb2.ListTransfersRequest, context: Any
    ) -> account_pb2.ListTransfersResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))
        limit = page_size(request.page_size)
        after = _seq_token(request.page_token)
        if request.state not in account_pb2.TransferState.values():
            raise InvalidArgument.field("state", "is not a transfer state")

        async def body(session: Any) -> account_pb2.ListTransfersResponse:
            await accounts.get_settings(session, path)
            items, last = await accounts.list_transfers(
                session, path, after_seq=after, limit=limit, state=request.state
            )
            return account_pb2.ListTransfersResponse(
                transfers=items, next_page_token=encode_token(str(last)) if last is not None else ""
            )

        return await self.read(body)

    async def GetBalances(
        self, request: account_pb2.GetBalancesRequest, context: Any
    ) -> account_pb2.GetBalancesResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))
        return await self.read(lambda session: accounts.balances(session, path, now=self.now()))

    async def CreateBudget(
        self, request: account_pb2.CreateBudgetRequest, context: Any
    ) -> account_pb2.CreateBudgetResponse:
        require_role(*BOOKKEEPERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if not 2000 <= request.year <= 2100:
            raise InvalidArgument.field("year", "must be a year between 2000 and 2100")
        if not request.lines:
            raise InvalidArgument.field("lines", "a budget needs at least one line")
        seen: set[str] = set()
        for i, line in enumerate(request.lines):
            if not SLUG.match(line.code):
                raise InvalidArgument.field(f"lines[{i}].code", "must be a lowercase slug, e.g. cleaning")
            if line.code in seen:
                raise InvalidArgument.field(f"lines[{i}].code", f"{line.code!r} appears twice")
            seen.add(line.code)
            require_text(line.title, f"lines[{i}].title", max_len=200)
            if line.amount_fen < 0:
                raise InvalidArgument.field(f"lines[{i}].amount_fen", "must not be negative")

        async def body(session: Any) -> account_pb2.CreateBudgetResponse:
            budget = await accounts.create_budget(session, path, request.year, list(request.lines))
            return account_pb2.CreateBudgetResponse(budget=budget)

        return await self.write("CreateBudget", request, account_pb2.CreateBudgetResponse, body)

    async def GetBudget(self, request: account_pb2.GetBudgetRequest, context: Any) -> account_pb2.GetBudgetResponse:
        path, year = parse_child_name(request.name, "budgets")
        if not year.isdigit():
            raise InvalidArgument.field("name", "the budget's id is its year")
        require_scope(path)

        async def body(session: Any) -> account_pb2.GetBudgetResponse:
            return account_pb2.GetBudgetResponse(budget=await accounts.get_budget(session, path, int(year)))

        return await self.read(body)
