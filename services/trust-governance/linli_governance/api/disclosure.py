from __future__ import annotations

from typing import Any

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc
from linli_governance import disclosures, names
from linli_governance.api import convert
from linli_governance.api.base import Api, require_household
from linli_governance.periods import parse_period
from linli_runtime import fields, paging
from linli_runtime import names as runtime_names
from linli_runtime.auth import BOOKKEEPERS, STAFF, Role, allows, authorize, caller, reach
from linli_runtime.errors import InvalidArgument


class DisclosureServicer(Api, disclosure_pb2_grpc.DisclosureServiceServicer):
    async def ClosePeriod(
        self, request: disclosure_pb2.ClosePeriodRequest, context: Any
    ) -> disclosure_pb2.ClosePeriodResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        parse_period(request.period)
        return await self.write(
            request,
            disclosure_pb2.ClosePeriodResponse,
            lambda session: disclosures.close_period(session, self.make_event, path, request.period, when=self.now()),
            lambda sealed: disclosure_pb2.ClosePeriodResponse(disclosure=convert.disclosure(sealed, full=True)),
            request_id_required=True,
        )

    @allows(Role.PORTAL)  # the public compound page shows the latest sealed disclosure in full
    async def GetDisclosure(
        self, request: disclosure_pb2.GetDisclosureRequest, context: Any
    ) -> disclosure_pb2.GetDisclosureResponse:
        path, period = self.scoped_child("name", request.name, names.DISCLOSURES)
        found = await disclosures.get(self.db, path, period)
        return disclosure_pb2.GetDisclosureResponse(disclosure=convert.disclosure(found, full=True))

    @allows(Role.PORTAL)
    async def ListDisclosures(
        self, request: disclosure_pb2.ListDisclosuresRequest, context: Any
    ) -> disclosure_pb2.ListDisclosuresResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        items, token = await disclosures.list_page(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return disclosure_pb2.ListDisclosuresResponse(
            disclosures=[convert.disclosure(d) for d in items], next_page_token=token
        )

    @allows(Role.PORTAL)
    async def VerifyDisclosureChain(
        self, request: disclosure_pb2.VerifyDisclosureChainRequest, context: Any
    ) -> disclosure_pb2.VerifyDisclosureChainResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        external = request.published_head_seal_hash
        if external:
            fields.sha256_hex("published_head_seal_hash", external, required=True)
        check = await disclosures.verify_chain(self.db, self.heads, path, external_head=external)
        return convert.chain_check(check, external)

    # An owner files for their household, signed in (the portal's "my household" pages send the
    # owner's own token); officers may file for the compound. The portal's own `portal` role may
    # not: an objection is always someone's, one per household per disclosure (issue 12).
    async def FileObjection(
        self, request: disclosure_pb2.FileObjectionRequest, context: Any
    ) -> disclosure_pb2.FileObjectionResponse:
        path, period = names.parse_compound_child("disclosure", request.disclosure, names.DISCLOSURES)
        # A resident files for their household; officers for the compound.
        household = runtime_names.org_path("household_path", request.household_path) if request.household_path else ""
        if household:
            require_household(household)
        else:
            reach(path)
        text = fields.text("text", request.text, 2000, required=True)
        fields.text("account", request.account, 80)  # empty: the disclosure as a whole
        return await self.write(
            request,
            disclosure_pb2.FileObjectionResponse,
            lambda session: disclosures.file_objection(
                session,
                path,
                period,
                kind=request.kind,
                account=request.account,
                text=text,
                household_path=request.household_path,
                when=self.now(),
            ),
            lambda filed: disclosure_pb2.FileObjectionResponse(objection=convert.objection(filed)),
        )

    async def ListObjections(
        self, request: disclosure_pb2.ListObjectionsRequest, context: Any
    ) -> disclosure_pb2.ListObjectionsResponse:
        path, period = names.parse_compound_child("disclosure", request.disclosure, names.DISCLOSURES)
        household = ""
        if request.household_path:
            # A household's residents follow their own objections and the answers they got.
            household = runtime_names.org_path("household_path", request.household_path)
            if not household.startswith(path + "/"):
                raise InvalidArgument.field("household_path", "must be a household of the disclosure's compound")
            require_household(household)
        else:
            reach(path)
        items, token = await disclosures.list_objections(
            self.db,
            names.disclosure_name(path, period),
            page_token=request.page_token,
            size=paging.page_size(request.page_size),
            now=self.now(),
            household_path=household,
        )
        return disclosure_pb2.ListObjectionsResponse(
            objections=[convert.objection(o) for o in items], next_page_token=token
        )

    async def AnswerObjection(
        self, request: disclosure_pb2.AnswerObjectionRequest, context: Any
    ) -> disclosure_pb2.AnswerObjectionResponse:
        path, period, objection_id = names.parse_objection("name", request.name)
        authorize(*BOOKKEEPERS, path=path)
        who = caller()
        answer = fields.text("answer", request.answer, 2000, required=True)
        return await self.write(
            request,
            disclosure_pb2.AnswerObjectionResponse,
            lambda session: disclosures.answer_objection(
                session, path, period, objection_id, answer=answer, answered_by=who.subject, when=self.now()
            ),
            lambda answered: disclosure_pb2.AnswerObjectionResponse(objection=convert.objection(answered)),
        )

    async def CloseObjection(
        self, request: disclosure_pb2.CloseObjectionRequest, context: Any
    ) -> disclosure_pb2.CloseObjectionResponse:
        path, period, objection_id = names.parse_objection("name", request.name)
        note = fields.text("note", request.note, 2000)
        household = ""
        if request.resolution == disclosure_pb2.OBJECTION_RESOLUTION_WITHDRAWN:
            # The household that filed it withdraws it (or an officer for it, on paper).
            household = runtime_names.org_path("household_path", request.household_path)
            who = require_household(household)
        else:
            # The owners' committee (or the officers who support it) closes an answered objection.
            authorize(Role.OWNERS_COMMITTEE, *STAFF, path=path)
            who = caller()
        return await self.write(
            request,
            disclosure_pb2.CloseObjectionResponse,
            lambda session: disclosures.close_objection(
                session,
                path,
                period,
                objection_id,
                resolution=request.resolution,
                note=note,
                closed_by=who.subject,
                household_path=household,
                when=self.now(),
            ),
            lambda closed: disclosure_pb2.CloseObjectionResponse(objection=convert.objection(closed)),
        )
