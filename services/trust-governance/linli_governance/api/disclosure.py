from __future__ import annotations

from typing import Any

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc
from linli_governance import disclosures, org_tree
from linli_governance.api.account import _seq_token
from linli_governance.api.base import BOOKKEEPERS, Api
from linli_governance.names import (
    encode_token,
    page_size,
    parse_child_name,
    request_id_required,
    require_path,
    require_text,
)
from linli_governance.periods import parse_period
from linli_runtime.auth import require_role, require_scope


class DisclosureServicer(Api, disclosure_pb2_grpc.DisclosureServiceServicer):
    async def ClosePeriod(
        self, request: disclosure_pb2.ClosePeriodRequest, context: Any
    ) -> disclosure_pb2.ClosePeriodResponse:
        require_role(*BOOKKEEPERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        parse_period(request.period)
        request_id_required(request.request_id)

        async def body(session: Any) -> disclosure_pb2.ClosePeriodResponse:
            disclosure = await disclosures.close_period(session, self.app, path, request.period, when=self.now())
            return disclosure_pb2.ClosePeriodResponse(disclosure=disclosure)

        return await self.write("ClosePeriod", request, disclosure_pb2.ClosePeriodResponse, body)

    async def GetDisclosure(
        self, request: disclosure_pb2.GetDisclosureRequest, context: Any
    ) -> disclosure_pb2.GetDisclosureResponse:
        path, period = parse_child_name(request.name, "disclosures")
        require_scope(path)

        async def body(session: Any) -> disclosure_pb2.GetDisclosureResponse:
            return disclosure_pb2.GetDisclosureResponse(disclosure=await disclosures.get(session, path, period))

        return await self.read(body)

    async def ListDisclosures(
        self, request: disclosure_pb2.ListDisclosuresRequest, context: Any
    ) -> disclosure_pb2.ListDisclosuresResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))
        limit = page_size(request.page_size)
        after = _seq_token(request.page_token)

        async def body(session: Any) -> disclosure_pb2.ListDisclosuresResponse:
            items, last = await disclosures.list_page(session, path, after_seq=after, limit=limit)
            return disclosure_pb2.ListDisclosuresResponse(
                disclosures=items, next_page_token=encode_token(str(last)) if last is not None else ""
            )

        return await self.read(body)

    async def VerifyDisclosureChain(
        self, request: disclosure_pb2.VerifyDisclosureChainRequest, context: Any
    ) -> disclosure_pb2.VerifyDisclosureChainResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))

        async def body(session: Any) -> disclosure_pb2.VerifyDisclosureChainResponse:
            await org_tree.get(session, path)  # NOT_FOUND for a compound that does not exist
            return await disclosures.verify_chain(session, path)

        return await self.read(body)

    async def FileObjection(
        self, request: disclosure_pb2.FileObjectionRequest, context: Any
    ) -> disclosure_pb2.FileObjectionResponse:
        path, period = parse_child_name(request.disclosure, "disclosures", "disclosure")
        require_scope(require_path(request.household_path, "household_path") if request.household_path else path)
        text = require_text(request.text, "text", max_len=2000)
        require_text(request.account, "account", max_len=80)

        async def body(session: Any) -> disclosure_pb2.FileObjectionResponse:
            objection = await disclosures.file_objection(
                session,
                path,
                period,
                kind=request.kind,
                account=request.account,
                text=text,
                household_path=request.household_path,
                when=self.now(),
            )
            return disclosure_pb2.FileObjectionResponse(objection=objection)

        return await self.write("FileObjection", request, disclosure_pb2.FileObjectionResponse, body)

    async def ListObjections(
        self, request: disclosure_pb2.ListObjectionsRequest, context: Any
    ) -> disclosure_pb2.ListObjectionsResponse:
        path, _ = parse_child_name(request.disclosure, "disclosures", "disclosure")
        require_scope(path)
        limit = page_size(request.page_size)
        after = _seq_token(request.page_token)

        async def body(session: Any) -> disclosure_pb2.ListObjectionsResponse:
            items, last = await disclosures.list_objections(
                session, request.disclosure, after_seq=after, limit=limit, now=self.now()
            )
            return disclosure_pb2.ListObjectionsResponse(
                objections=items, next_page_token=encode_token(str(last)) if last is not None else ""
            )

        return await self.read(body)
