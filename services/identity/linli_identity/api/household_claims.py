"""HouseholdClaimService: an owner claims a unit, the committee or a worker decides (rules in
household_claims.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.identity.v1 import identity_pb2 as pb
from linli_identity import access
from linli_identity.accounts import SERVICE
from linli_identity.api import convert
from linli_identity.api.base import Api, Domain, deny
from linli_identity.household_claims import HouseholdClaims, may_review_within
from linli_identity.names import ACCOUNTS, ANY, ME, parse_claim
from linli_identity.tables import HouseholdClaim
from linli_runtime import fields
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

STATES = {v: k for k, v in convert.CLAIM_STATES.items()}


class HouseholdClaimServicer(Api):
    def __init__(self, domain: Domain, claims: HouseholdClaims) -> None:
        super().__init__(domain)
        self.claims = claims

    async def _message(self, session: AsyncSession, claim: HouseholdClaim) -> pb.HouseholdClaim:
        return convert.household_claim(claim, await self.accounts.find(session, claim.account_id))

    async def CreateHouseholdClaim(self, request: pb.CreateHouseholdClaimRequest,
                                   context: Any) -> pb.CreateHouseholdClaimResponse:
        fields.request_id(request.request_id)
        wanted = request.household_claim

        async def body(session: AsyncSession) -> pb.CreateHouseholdClaimResponse:
            actor = await self.actor(session)
            if access.is_service(actor) or (await self.accounts.get(session, actor.account_id)).kind == SERVICE:
                raise deny("claim a household: only a person's account may")
            claim = await self.claims.create(session, actor=actor, household_path=wanted.household_path,
                                             register_name=wanted.register_name, note=wanted.note)
            return pb.CreateHouseholdClaimResponse(household_claim=await self._message(session, claim))

        return await self.write("CreateHouseholdClaim", request, pb.CreateHouseholdClaimResponse, body)

    async def GetHouseholdClaim(self, request: pb.GetHouseholdClaimRequest,
                                context: Any) -> pb.GetHouseholdClaimResponse:
        claim_id = parse_claim("name", request.name)

        async def body(session: AsyncSession) -> pb.GetHouseholdClaimResponse:
            claim = await self.claims.visible(session, await self.actor(session), claim_id)
            return pb.GetHouseholdClaimResponse(household_claim=await self._message(session, claim))

        return await self.read(body)

    async def ListHouseholdClaims(self, request: pb.ListHouseholdClaimsRequest,
                                  context: Any) -> pb.ListHouseholdClaimsResponse:
        if request.parent not in (f"{ACCOUNTS}/{ME}", f"{ACCOUNTS}/{ANY}"):
            raise InvalidArgument.field("parent", "must be accounts/me (my claims) or accounts/- (with scope)")
        mine = request.parent == f"{ACCOUNTS}/{ME}"
        scope = normalize_path(request.scope) if request.scope.strip("/ ") else ""
        if not mine and not scope:
            raise InvalidArgument.field("scope", "is required with accounts/-: the compound (or community) whose "
                                                 "claims to list")
        state = STATES.get(request.state, "")

        async def body(session: AsyncSession) -> pb.ListHouseholdClaimsResponse:
            actor = await self.actor(session)
            if not mine and not (access.sees_everything(actor) or may_review_within(actor.grants, scope)):
                raise deny(f"list the household claims within '{scope}'")
            found, token = await self.claims.list(session, account_id=actor.account_id if mine else "", scope=scope,
                                                  state=state, page_size=request.page_size,
                                                  page_token=request.page_token)
            return pb.ListHouseholdClaimsResponse(household_claims=[await self._message(session, c) for c in found],
                                                  next_page_token=token)

        return await self.read(body)

    async def ApproveHouseholdClaim(self, request: pb.ApproveHouseholdClaimRequest,
                                    context: Any) -> pb.ApproveHouseholdClaimResponse:
        fields.request_id(request.request_id)
        claim_id = parse_claim("name", request.name)

        async def body(session: AsyncSession) -> pb.ApproveHouseholdClaimResponse:
            actor = await self.actor(session)
            claim = await self.claims.visible(session, actor, claim_id)
            approved = await self.claims.approve(session, actor=actor, claim=claim, reason=request.reason)
            return pb.ApproveHouseholdClaimResponse(household_claim=await self._message(session, approved))

        return await self.write("ApproveHouseholdClaim", request, pb.ApproveHouseholdClaimResponse, body)

    async def RejectHouseholdClaim(self, request: pb.RejectHouseholdClaimRequest,
                                   context: Any) -> pb.RejectHouseholdClaimResponse:
        fields.request_id(request.request_id)
        claim_id = parse_claim("name", request.name)
        fields.text("reason", request.reason, 300, required=True)

        async def body(session: AsyncSession) -> pb.RejectHouseholdClaimResponse:
            actor = await self.actor(session)
            claim = await self.claims.visible(session, actor, claim_id)
            rejected = await self.claims.reject(session, actor=actor, claim=claim, reason=request.reason)
            return pb.RejectHouseholdClaimResponse(household_claim=await self._message(session, rejected))

        return await self.write("RejectHouseholdClaim", request, pb.RejectHouseholdClaimResponse, body)
