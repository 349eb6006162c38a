"""AccountService: create, get, list, disable and enable accounts (rules in access.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.identity.v1 import identity_pb2 as pb
from linli_identity import access
from linli_identity.accounts import PERSON, SERVICE, normalize_phone
from linli_identity.api import convert
from linli_identity.api.base import Api, deny
from linli_identity.names import parse_account
from linli_runtime import fields
from linli_runtime.auth import caller
from linli_runtime.names import org_path

KINDS = {pb.ACCOUNT_KIND_PERSON: PERSON, pb.ACCOUNT_KIND_SERVICE: SERVICE, pb.ACCOUNT_KIND_UNSPECIFIED: PERSON}


class AccountServicer(Api):
    async def CreateAccount(self, request: pb.CreateAccountRequest, context: Any) -> pb.CreateAccountResponse:
        fields.request_id(request.request_id)
        kind = KINDS.get(request.account.kind, PERSON)

        async def body(session: AsyncSession) -> pb.CreateAccountResponse:
            actor = await self.actor(session)
            if not access.may_create(actor, kind):
                raise deny(f"create {kind} accounts")
            created = await self.accounts.create(session, display_name=request.account.display_name,
                                                 phone=request.account.phone or None, kind=kind,
                                                 created_by=actor.account_id)
            return pb.CreateAccountResponse(account=convert.account(created))

        return await self.write("CreateAccount", request, pb.CreateAccountResponse, body)

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        account_id = parse_account("name", request.name, me=caller().subject)

        async def body(session: AsyncSession) -> pb.GetAccountResponse:
            actor = await self.actor(session)
            found = await self.accounts.get(session, account_id)
            if not access.may_see(actor, account_id, await self.grants.active_for(session, account_id)):
                raise deny(f"see accounts/{account_id}")
            return pb.GetAccountResponse(account=convert.account(found))

        return await self.read(body)

    async def ListAccounts(self, request: pb.ListAccountsRequest, context: Any) -> pb.ListAccountsResponse:
        phone = normalize_phone("phone", request.phone) if request.phone else ""
        scope = org_path("scope", request.scope) if request.scope.strip("/ ") else None

        async def body(session: AsyncSession) -> pb.ListAccountsResponse:
            actor = await self.actor(session)
            if scope is not None and not access.may_list_scope(actor, scope):
                raise deny(f"list accounts within '{scope}'")
            if scope is None and not (access.sees_everything(actor) or (phone and access.is_administrator(actor))):
                raise deny("list accounts without a scope you administer (give phone or scope)")
            found, token = await self.accounts.list(session, phone=phone, scope=scope, page_size=request.page_size,
                                                    page_token=request.page_token)
            return pb.ListAccountsResponse(accounts=[convert.account(a) for a in found], next_page_token=token)

        return await self.read(body)

    async def _set_state(self, method: str, request: Any, response_cls: Any, disable: bool) -> Any:
        fields.request_id(request.request_id)
        account_id = parse_account("name", request.name)
        reason = fields.text("reason", request.reason, 500, required=True)

        async def body(session: AsyncSession) -> Any:
            actor = await self.actor(session)
            target = await self.accounts.get(session, account_id)
            if not access.may_disable(actor, account_id, await self.grants.active_for(session, account_id)):
                raise deny(f"{'disable' if disable else 'enable'} accounts/{account_id}")
            change = self.accounts.disable if disable else self.accounts.enable
            changed = await change(session, target, by=actor.account_id, reason=reason)
            return response_cls(account=convert.account(changed))

        return await self.write(method, request, response_cls, body)

    async def DisableAccount(self, request: pb.DisableAccountRequest, context: Any) -> pb.DisableAccountResponse:
        result: pb.DisableAccountResponse = await self._set_state("DisableAccount", request,
                                                                  pb.DisableAccountResponse, True)
        return result

    async def EnableAccount(self, request: pb.EnableAccountRequest, context: Any) -> pb.EnableAccountResponse:
        result: pb.EnableAccountResponse = await self._set_state("EnableAccount", request,
                                                                 pb.EnableAccountResponse, False)
        return result
