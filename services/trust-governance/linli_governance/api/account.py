from __future__ import annotations

from typing import Any

from linli.governance.v1 import account_pb2, account_pb2_grpc
from linli_governance import accounts, names, settings_changes, vouchers
from linli_governance.api import convert
from linli_governance.api.base import Api, require_owner_or_scope
from linli_governance.authority import PARTY_ROLES
from linli_runtime import fields, paging
from linli_runtime.auth import BOOKKEEPERS, Principal, Role, allows, authorize, caller, reach
from linli_runtime.errors import InvalidArgument
from linli_runtime.names import org_path

COUNTERPARTY_LEN = 200
# Who may ask for new account settings (the change still waits for both parties, or a vote).
SETTINGS_PROPOSERS = (*BOOKKEEPERS, Role.TRUST_SUPERVISOR)


def _party_role(party: int) -> Role:
    role = PARTY_ROLES.get(party)
    if role is None:
        raise InvalidArgument.field("party", "must be OWNERS_COMMITTEE or SUPERVISOR")
    return role


def _acting_as(roles: tuple[Role, ...], field: str, path: str) -> tuple[str, Principal]:
    """The compound path of `field`, normalised, and the caller, who holds a grant of one of
    `roles` covering it (whatever else it holds: one account may carry several grants)."""
    compound_path = org_path(field, path)
    authorize(*roles, path=compound_path)
    return compound_path, caller()


def _approver(party: int, compound_path: str) -> Principal:
    """The caller, holding the party's own grant at the compound: each party approves for itself,
    and a platform admin's or a service's grant does not stand in (authority.py)."""
    authorize(_party_role(party), path=compound_path, exact=True)
    return caller()


def _same_compound(field: str, name: str, collection: str, compound_path: str) -> str:
    """The id in `name`, which must name a resource of `compound_path`."""
    path, ident = names.parse_compound_child(field, name, collection)
    if path != compound_path:
        raise InvalidArgument.field(field, f"must be a {collection[:-1]} of the same compound")
    return ident


def _voucher(voucher: account_pb2.Voucher) -> accounts.Voucher:
    file_ref = fields.text("voucher.file_ref", voucher.file_ref, 500)
    fields.sha256_hex("voucher.sha256", voucher.sha256, required=True)
    return accounts.Voucher(file_ref, voucher.sha256)


def _counterparty(value: str, *, required: bool) -> str:
    return fields.text("counterparty", value, COUNTERPARTY_LEN, required=required)


class TrustAccountServicer(Api, account_pb2_grpc.TrustAccountServiceServicer):
    async def GetAccountSettings(
        self, request: account_pb2.GetAccountSettingsRequest, context: Any
    ) -> account_pb2.GetAccountSettingsResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        settings = await accounts.get_settings(self.db, path)
        return account_pb2.GetAccountSettingsResponse(settings=convert.account_settings(settings))

    async def UpdateAccountSettings(
        self, request: account_pb2.UpdateAccountSettingsRequest, context: Any
    ) -> account_pb2.UpdateAccountSettingsResponse:
        path, who = _acting_as(SETTINGS_PROPOSERS, "settings.compound_path", request.settings.compound_path)
        settings = convert.settings_from(request.settings, path)
        accounts.validate_settings(settings)
        if request.owners_decision:
            _same_compound("owners_decision", request.owners_decision, names.VOTES, path)
        return await self.write(
            request,
            account_pb2.UpdateAccountSettingsResponse,
            lambda session: settings_changes.propose(
                session, settings, proposed_by=who.subject, owners_decision=request.owners_decision, when=self.now()
            ),
            lambda done: account_pb2.UpdateAccountSettingsResponse(
                settings=convert.account_settings(done[1]), change=convert.settings_change(done[0])
            ),
        )

    async def ApproveSettingsChange(
        self, request: account_pb2.ApproveSettingsChangeRequest, context: Any
    ) -> account_pb2.ApproveSettingsChangeResponse:
        path, change_id = names.parse_compound_child("name", request.name, names.SETTINGS_CHANGES)
        who = _approver(request.party, path)
        return await self.write(
            request,
            account_pb2.ApproveSettingsChangeResponse,
            lambda session: settings_changes.approve(
                session, path, change_id, request.party, approver=who.subject, when=self.now()
            ),
            lambda done: account_pb2.ApproveSettingsChangeResponse(
                change=convert.settings_change(done[0]), settings=convert.account_settings(done[1])
            ),
        )

    async def RejectSettingsChange(
        self, request: account_pb2.RejectSettingsChangeRequest, context: Any
    ) -> account_pb2.RejectSettingsChangeResponse:
        path, change_id = names.parse_compound_child("name", request.name, names.SETTINGS_CHANGES)
        _approver(request.party, path)
        reason = fields.text("reason", request.reason, 400, required=True)
        return await self.write(
            request,
            account_pb2.RejectSettingsChangeResponse,
            lambda session: settings_changes.reject(session, path, change_id, request.party, reason, when=self.now()),
            lambda rejected: account_pb2.RejectSettingsChangeResponse(change=convert.settings_change(rejected)),
        )

    async def ListSettingsChanges(
        self, request: account_pb2.ListSettingsChangesRequest, context: Any
    ) -> account_pb2.ListSettingsChangesResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        size = paging.page_size(request.page_size)
        changes, token = await settings_changes.list_page(
            self.db, path, page_token=request.page_token, size=size, now=self.now()
        )
        return account_pb2.ListSettingsChangesResponse(
            changes=[convert.settings_change(c) for c in changes], next_page_token=token
        )

    async def RecordIncome(
        self, request: account_pb2.RecordIncomeRequest, context: Any
    ) -> account_pb2.RecordIncomeResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        accounts.income_account(request.category)
        amount = accounts.amount(request.amount_fen)
        memo = fields.text("memo", request.memo, 2000)
        payer = _counterparty(request.counterparty, required=False)
        return await self.write(
            request,
            account_pb2.RecordIncomeResponse,
            lambda session: accounts.record_income(
                session, path, request.category, amount, memo, when=self.now(), counterparty=payer
            ),
            lambda posted: account_pb2.RecordIncomeResponse(transfer=convert.transfer(posted)),
            request_id_required=True,
        )

    async def RecordExpense(
        self, request: account_pb2.RecordExpenseRequest, context: Any
    ) -> account_pb2.RecordExpenseResponse:
        path, who = _acting_as(BOOKKEEPERS, "compound_path", request.compound_path)
        fields.slug("budget_line", request.budget_line)
        amount = accounts.amount(request.amount_fen)
        memo = fields.text("memo", request.memo, 2000)
        voucher = _voucher(request.voucher)
        payee = _counterparty(request.counterparty, required=True)
        if request.owners_decision:
            _same_compound("owners_decision", request.owners_decision, names.VOTES, path)
        project_id = _same_compound("project", request.project, names.PROJECTS, path) if request.project else ""
        return await self.write(
            request,
            account_pb2.RecordExpenseResponse,
            lambda session: accounts.record_expense(
                session,
                path,
                project_id=project_id,
                budget_line=request.budget_line,
                amount=amount,
                memo=memo,
                voucher=voucher,
                owners_decision=request.owners_decision,
                when=self.now(),
                counterparty=payee,
                recorded_by=who.subject,
            ),
            lambda posted: account_pb2.RecordExpenseResponse(transfer=convert.transfer(posted)),
            request_id_required=True,
        )

    async def SpendMaintenanceFund(
        self, request: account_pb2.SpendMaintenanceFundRequest, context: Any
    ) -> account_pb2.SpendMaintenanceFundResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        if not request.owners_decision:
            raise InvalidArgument.field(
                "owners_decision", "the maintenance fund is spent only under a passed USE_MAINTENANCE_FUND vote"
            )
        _same_compound("owners_decision", request.owners_decision, names.VOTES, path)
        amount = accounts.amount(request.amount_fen)
        memo = fields.text("memo", request.memo, 2000)
        voucher = _voucher(request.voucher)
        payee = _counterparty(request.counterparty, required=True)
        return await self.write(
            request,
            account_pb2.SpendMaintenanceFundResponse,
            lambda session: accounts.spend_fund(
                session,
                path,
                owners_decision=request.owners_decision,
                amount=amount,
                memo=memo,
                voucher=voucher,
                when=self.now(),
                counterparty=payee,
            ),
            lambda posted: account_pb2.SpendMaintenanceFundResponse(transfer=convert.transfer(posted)),
            request_id_required=True,
        )

    async def ApproveTransfer(
        self, request: account_pb2.ApproveTransferRequest, context: Any
    ) -> account_pb2.ApproveTransferResponse:
        path, transfer_id = names.parse_compound_child("name", request.name, names.TRANSFERS)
        who = _approver(request.party, path)
        return await self.write(
            request,
            account_pb2.ApproveTransferResponse,
            lambda session: accounts.approve(
                session, path, transfer_id, request.party, approver=who.subject, when=self.now()
            ),
            lambda approved: account_pb2.ApproveTransferResponse(transfer=convert.transfer(approved)),
            request_id_required=True,
        )

    async def RejectTransfer(
        self, request: account_pb2.RejectTransferRequest, context: Any
    ) -> account_pb2.RejectTransferResponse:
        path, transfer_id = names.parse_compound_child("name", request.name, names.TRANSFERS)
        who = _approver(request.party, path)
        reason = fields.text("reason", request.reason, 500, required=True)
        return await self.write(
            request,
            account_pb2.RejectTransferResponse,
            lambda session: accounts.reject(
                session, path, transfer_id, request.party, reason, who=who.subject, when=self.now()
            ),
            lambda voided: account_pb2.RejectTransferResponse(transfer=convert.transfer(voided)),
        )

    async def ReverseTransfer(
        self, request: account_pb2.ReverseTransferRequest, context: Any
    ) -> account_pb2.ReverseTransferResponse:
        path, transfer_id = self.scoped_child("name", request.name, names.TRANSFERS, *BOOKKEEPERS)
        reason = fields.text("reason", request.reason, 500, required=True)
        return await self.write(
            request,
            account_pb2.ReverseTransferResponse,
            lambda session: accounts.reverse(session, path, transfer_id, reason, when=self.now()),
            lambda reversal: account_pb2.ReverseTransferResponse(transfer=convert.transfer(reversal)),
            request_id_required=True,
        )

    async def GetTransfer(
        self, request: account_pb2.GetTransferRequest, context: Any
    ) -> account_pb2.GetTransferResponse:
        path, transfer_id = self.scoped_child("name", request.name, names.TRANSFERS)
        found = await accounts.get_transfer(self.db, path, transfer_id)
        return account_pb2.GetTransferResponse(transfer=convert.transfer(found))

    async def ListTransfers(
        self, request: account_pb2.ListTransfersRequest, context: Any
    ) -> account_pb2.ListTransfersResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        size = paging.page_size(request.page_size)
        if request.state not in account_pb2.TransferState.values():
            raise InvalidArgument.field("state", "is not a transfer state")
        items, token = await accounts.list_transfers(
            self.db, path, state=request.state, page_token=request.page_token, size=size
        )
        return account_pb2.ListTransfersResponse(transfers=[convert.transfer(t) for t in items], next_page_token=token)

    async def GetBalances(
        self, request: account_pb2.GetBalancesRequest, context: Any
    ) -> account_pb2.GetBalancesResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        return convert.balances(await accounts.balances(self.db, path, now=self.now()))

    async def CreateBudget(
        self, request: account_pb2.CreateBudgetRequest, context: Any
    ) -> account_pb2.CreateBudgetResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        lines = convert.budget_lines_from(list(request.lines))
        accounts.validate_budget(request.year, lines)
        return await self.write(
            request,
            account_pb2.CreateBudgetResponse,
            lambda session: accounts.create_budget(session, path, request.year, lines),
            lambda created: account_pb2.CreateBudgetResponse(budget=convert.budget(created)),
        )

    async def UploadVoucher(
        self, request: account_pb2.UploadVoucherRequest, context: Any
    ) -> account_pb2.UploadVoucherResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        who = caller()
        filename = vouchers.check_upload(
            request.content, request.media_type, request.filename, self.settings.voucher_max_bytes
        )
        return await self.write(
            request,
            account_pb2.UploadVoucherResponse,
            lambda session: vouchers.upload(
                session,
                self.vouchers,
                path,
                request.content,
                media_type=request.media_type,
                filename=filename,
                uploaded_by=who.subject,
                when=self.now(),
            ),
            lambda stored: account_pb2.UploadVoucherResponse(voucher=convert.stored_voucher(stored)),
        )

    async def GetVoucher(self, request: account_pb2.GetVoucherRequest, context: Any) -> account_pb2.GetVoucherResponse:
        path, sha256 = names.parse_compound_child("name", request.name, names.VOUCHERS)
        fields.sha256_hex("name", sha256, required=True)
        require_owner_or_scope(path)
        voucher, content = await vouchers.get(self.db, self.vouchers, path, sha256)
        return account_pb2.GetVoucherResponse(voucher=convert.stored_voucher(voucher), content=content)

    @allows(Role.PORTAL)
    async def GetBudget(self, request: account_pb2.GetBudgetRequest, context: Any) -> account_pb2.GetBudgetResponse:
        path, year = names.parse_compound_child("name", request.name, names.BUDGETS)
        if not year.isdigit():
            raise InvalidArgument.field("name", "the budget's id is its year")
        reach(path)
        return account_pb2.GetBudgetResponse(budget=convert.budget(await accounts.get_budget(self.db, path, int(year))))
