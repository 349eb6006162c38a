"""GrantService: give, revoke and list grants (rules in authority.py and access.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.identity.v1 import identity_pb2 as pb
from linli_identity import access
from linli_identity.api import convert
from linli_identity.api.base import Api, deny
from linli_identity.names import parse_account, parse_account_or_any, parse_grant
from linli_runtime import fields
from linli_runtime.auth import caller, normalize_path
from linli_runtime.errors import InvalidArgument


class GrantServicer(Api):
    async def CreateGrant(self, request: pb.CreateGrantRequest, context: Any) -> pb.CreateGrantResponse:
        fields.request_id(request.request_id)
        account_id = parse_account("parent", request.parent)
        scope = normalize_path(request.grant.scope)

        async def body(session: AsyncSession) -> pb.CreateGrantResponse:
            actor = await self.actor(session)
            target = await self.accounts.get(session, account_id)
            given = await self.grants.grant(session, actor=actor, account=target, role=request.grant.role,
                                            scope=scope, reason=request.grant.reason)
            return pb.CreateGrantResponse(grant=convert.grant(given))

        return await self.write("CreateGrant", request, pb.CreateGrantResponse, body)

    async def RevokeGrant(self, request: pb.RevokeGrantRequest, context: Any) -> pb.RevokeGrantResponse:
        fields.request_id(request.request_id)
        account_id, grant_id = parse_grant("name", request.name)

        async def body(session: AsyncSession) -> pb.RevokeGrantResponse:
            actor = await self.actor(session)
            found = await self.grants.get(session, account_id, grant_id)
            revoked = await self.grants.revoke(session, actor=actor, grant=found, reason=request.reason)
            return pb.RevokeGrantResponse(grant=convert.grant(revoked))

        return await self.write("RevokeGrant", request, pb.RevokeGrantResponse, body)

    async def ListGrants(self, request: pb.ListGrantsRequest, context: Any) -> pb.ListGrantsResponse:
        account_id = parse_account_or_any("parent", request.parent, me=caller().subject)
        scope = normalize_path(request.scope) if request.scope.strip("/ ") else None
        if not account_id and scope is None and not request.parent:
            raise InvalidArgument.field("parent", "is required: accounts/{id}, accounts/me or accounts/-")

        async def body(session: AsyncSession) -> pb.ListGrantsResponse:
            actor = await self.actor(session)
            if account_id:
                await self.accounts.get(session, account_id)
                if not access.may_see(actor, account_id, await self.grants.active_for(session, account_id)):
                    raise deny(f"see the grants of accounts/{account_id}")
            if scope is not None and not account_id and not access.may_list_scope(actor, scope):
                raise deny(f"list grants within '{scope}'")
            if not account_id and scope is None and not access.sees_everything(actor):
                raise deny("list every account's grants; give a scope you administer")
            found, token = await self.grants.list(session, account_id=account_id, scope=scope,
                                                  show_revoked=request.show_revoked, page_size=request.page_size,
                                                  page_token=request.page_token)
            return pb.ListGrantsResponse(grants=[convert.grant(g) for g in found], next_page_token=token)

        return await self.read(body)
