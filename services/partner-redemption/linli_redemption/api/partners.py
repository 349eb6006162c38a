"""linli.redemption.v1.PartnerService: operators manage a community's partners and merchants'
POS terminals. CreatePartner, CreateTerminal and RotateTerminalSecret are idempotent by
request id; a retried CreateTerminal or RotateTerminalSecret is shown the same secret (the
stored reply leaves it out; it is derived again, see terminal_secrets)."""

from __future__ import annotations

from typing import TypeVar

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli_redemption import names
from linli_redemption.api import access
from linli_redemption.api.convert import KIND_NAMES, STATE_NAMES, partner_pb, terminal_pb
from linli_redemption.api.writes import Writes
from linli_redemption.partners import NewPartner, Partners
from linli_redemption.tables import Terminal
from linli_redemption.terminals import IssuedSecret, Terminals, authorization_value
from linli_runtime import fields, paging
from linli_runtime.auth import OPERATORS, authorize
from linli_runtime.errors import InvalidArgument
from linli_runtime.org_units import KnownUnits

FULL_NAME = pb.DESCRIPTOR.services_by_name["PartnerService"].full_name


SecretReply = TypeVar("SecretReply", pb.CreateTerminalResponse, pb.RotateTerminalSecretResponse)


def kept(issued: list[IssuedSecret], made: IssuedSecret) -> IssuedSecret:
    """Note `made` (the secret drawn for a request without an id is answered from it)."""
    issued.append(made)
    return made


class PartnerServicer(admin_pb2_grpc.PartnerServiceServicer):
    def __init__(self, partners: Partners, terminals: Terminals, writes: Writes, places: KnownUnits) -> None:
        self.partners, self.terminals, self.writes, self.places = partners, terminals, writes, places

    async def ListPartners(self, request: pb.ListPartnersRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListPartnersResponse:
        path = access.community(request.community_path)
        size = paging.page_size(request.page_size)
        kind = None
        if request.kind:
            if request.kind not in KIND_NAMES:
                raise InvalidArgument.field("kind", "is not a known partner kind")
            kind = KIND_NAMES[request.kind]
        partners, next_token = await self.partners.list(path, kind, request.page_token, size)
        return pb.ListPartnersResponse(partners=[partner_pb(p) for p in partners], next_page_token=next_token)

    async def GetPartner(self, request: pb.GetPartnerRequest,
                         context: grpc.aio.ServicerContext) -> pb.GetPartnerResponse:
        found = await access.partner(self.partners, names.parse_partner("name", request.name))
        return pb.GetPartnerResponse(partner=partner_pb(found))

    async def CreatePartner(self, request: pb.CreatePartnerRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreatePartnerResponse:
        given = request.partner
        path = access.writer(given.community_path, "partner.community_path")
        await self.places.require(path, field="partner.community_path")
        partner_id = names.slug("partner_id", request.partner_id)
        if given.kind not in KIND_NAMES:
            raise InvalidArgument.field("partner.kind", "must be MEMBER_UNIT, SIGNED_PARTNER or MERCHANT")
        new = NewPartner(
            partner_id=partner_id, community_path=path, kind=KIND_NAMES[given.kind],
            display_name=fields.text("partner.display_name", given.display_name, 200, required=True),
            display_name_en=fields.text("partner.display_name_en", given.display_name_en, 200),
            contact=fields.text("partner.contact", given.contact, 200),
            agreement=fields.text("partner.agreement", given.agreement, 200),
            placeholder=given.placeholder)
        return await self.writes.once(request, pb.CreatePartnerResponse,
                                      lambda session: self.partners.create(session, new),
                                      lambda created: pb.CreatePartnerResponse(partner=partner_pb(created)))

    async def SetPartnerState(self, request: pb.SetPartnerStateRequest,
                              context: grpc.aio.ServicerContext) -> pb.SetPartnerStateResponse:
        found = await access.partner(self.partners, names.parse_partner("name", request.name))
        authorize(*OPERATORS, path=found.community_path)
        if request.state not in STATE_NAMES:
            raise InvalidArgument.field("state", "must be ACTIVE or SUSPENDED")
        return pb.SetPartnerStateResponse(partner=partner_pb(
            await self.partners.set_state(found.id, STATE_NAMES[request.state])))

    # -- terminals -----------------------------------------------------------------------------

    async def CreateTerminal(self, request: pb.CreateTerminalRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateTerminalResponse:
        merchant = await access.merchant_named(self.partners, request.parent)
        authorize(*OPERATORS, path=merchant.community_path)
        terminal_id = names.slug("terminal_id", request.terminal_id)
        display = fields.text("display_name", request.display_name, 100)
        held = self.writes.held_key(request)
        issued: list[IssuedSecret] = []
        reply = await self.writes.once(
            request, pb.CreateTerminalResponse,
            lambda session: self.terminals.create(session, merchant.id, terminal_id, display, held=held),
            lambda made: pb.CreateTerminalResponse(terminal=terminal_pb(kept(issued, made).terminal)))
        return await self._with_secret(reply, held, issued)

    async def _terminal(self, name: str) -> Terminal:
        """The terminal `name` names, for an operator of its merchant's community."""
        merchant_id, terminal_id = names.parse_terminal("name", name)
        merchant = await access.merchant(self.partners, merchant_id)
        authorize(*OPERATORS, path=merchant.community_path)
        return await self.terminals.get(merchant_id, terminal_id)

    async def RotateTerminalSecret(self, request: pb.RotateTerminalSecretRequest,
                                   context: grpc.aio.ServicerContext) -> pb.RotateTerminalSecretResponse:
        found = await self._terminal(request.name)
        held = self.writes.held_key(request)
        issued: list[IssuedSecret] = []
        reply = await self.writes.once(
            request, pb.RotateTerminalSecretResponse,
            lambda session: self.terminals.rotate_secret(session, found, held=held),
            lambda made: pb.RotateTerminalSecretResponse(terminal=terminal_pb(kept(issued, made).terminal)))
        self.terminals.forget(found.id)  # committed: the old secret is refused from the next call on
        return await self._with_secret(reply, held, issued)

    async def _with_secret(self, reply: SecretReply, held: str | None, issued: list[IssuedSecret]) -> SecretReply:
        """The reply with its secret: the one just drawn when the request has no id, else the one
        derived again for this request id (the first call and every retry alike; the reply
        stored for retries never holds it)."""
        terminal_id = reply.terminal.terminal_id
        secret = issued[-1].secret if held is None else await self.terminals.shown_again(held, terminal_id)
        reply.secret, reply.authorization = secret, authorization_value(terminal_id, secret)
        return reply

    async def RevokeTerminal(self, request: pb.RevokeTerminalRequest,
                             context: grpc.aio.ServicerContext) -> pb.RevokeTerminalResponse:
        found = await self._terminal(request.name)
        return pb.RevokeTerminalResponse(terminal=terminal_pb(await self.terminals.revoke(found)))

    async def ListTerminals(self, request: pb.ListTerminalsRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListTerminalsResponse:
        merchant = await access.merchant_named(self.partners, request.parent)
        access.staff_reader(merchant.community_path)
        terminals, next_token = await self.terminals.list(merchant.id, request.page_token,
                                                          paging.page_size(request.page_size))
        return pb.ListTerminalsResponse(terminals=[terminal_pb(t) for t in terminals], next_page_token=next_token)


