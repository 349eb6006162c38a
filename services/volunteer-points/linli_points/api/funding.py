"""linli.points.v1.FundingService: funding sources, their budgets, and the report of what each
issued and what became of it (funding.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import funding_pb2 as pb
from linli.points.v1 import funding_pb2_grpc
from linli_points.api.access import reader, writer
from linli_points.api.convert import funding_line_pb, funding_source_pb
from linli_points.funding import MAX_BUDGET_CHANGE, Funding, FundingKind
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import display_name, ident, request_id, text
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import to_timestamp

FULL_NAME = pb.DESCRIPTOR.services_by_name["FundingService"].full_name
KINDS = ", ".join(k.name for k in FundingKind)


class FundingServicer(funding_pb2_grpc.FundingServiceServicer):
    def __init__(self, funding: Funding, places: KnownUnits) -> None:
        self.funding = funding
        self.places = places

    async def CreateFundingSource(
        self, request: pb.CreateFundingSourceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateFundingSourceResponse:
        f = request.funding_source
        path = writer(f.community_path, "funding_source.community_path")
        await self.places.require(path, field="funding_source.community_path")
        source_id = ident("funding_source.source_id", f.source_id)
        if f.kind not in {int(k) for k in FundingKind}:
            raise InvalidArgument.field("funding_source.kind", f"say what kind of money it is: one of {KINDS}")
        created = await self.funding.create_source(
            path, source_id, name=display_name("funding_source.display_name", f.display_name),
            name_en=text("funding_source.display_name_en", f.display_name_en, 100), kind=FundingKind(f.kind))
        figures = await self.funding.figures(path, source_id)
        return pb.CreateFundingSourceResponse(funding_source=funding_source_pb(created, figures))

    async def ListFundingSources(
        self, request: pb.ListFundingSourcesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListFundingSourcesResponse:
        path = reader(request.community_path)
        found, next_token = await self.funding.list_page(path, page_token=request.page_token,
                                                         size=page_size(request.page_size))
        return pb.ListFundingSourcesResponse(funding_sources=[funding_source_pb(s, t) for s, t in found],
                                             next_page_token=next_token)

    async def SetDefaultFundingSource(
        self, request: pb.SetDefaultFundingSourceRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetDefaultFundingSourceResponse:
        path = writer(request.community_path)
        chosen = await self.funding.set_default(path, ident("source_id", request.source_id))
        figures = await self.funding.figures(path, chosen.source_id)
        return pb.SetDefaultFundingSourceResponse(funding_source=funding_source_pb(chosen, figures))

    async def AddFundingBudget(
        self, request: pb.AddFundingBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddFundingBudgetResponse:
        path = writer(request.community_path)
        source_id = ident("source_id", request.source_id)
        rid = request_id(request.request_id, required=True)
        if request.points == 0 or abs(request.points) > MAX_BUDGET_CHANGE:
            raise InvalidArgument.field("points", f"must be between -{MAX_BUDGET_CHANGE} and {MAX_BUDGET_CHANGE}, "
                                                  "not 0 (negative withdraws budget not yet issued)")
        note = text("note", request.note, 200)
        figures, transfer_id = await self.funding.add_budget(path, source_id, request_id=rid, points=request.points,
                                                             note=note)
        return pb.AddFundingBudgetResponse(figures=funding_line_pb(figures), transfer_id=transfer_id)

    async def GetFundingReport(
        self, request: pb.GetFundingReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetFundingReportResponse:
        path = reader(request.community_path)
        report = await self.funding.report(path)
        return pb.GetFundingReportResponse(lines=[funding_line_pb(line.totals, line.source) for line in report.lines],
                                           total=funding_line_pb(report.total), report_time=to_timestamp(report.as_of))
