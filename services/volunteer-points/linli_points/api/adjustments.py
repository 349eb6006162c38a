"""linli.points.v1.AdjustmentService: manual corrections under the four-eyes rule
(adjustments.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import adjustments_pb2 as pb
from linli.points.v1 import adjustments_pb2_grpc
from linli_points.adjustments import MAX_ADJUSTMENT, Adjustments
from linli_points.api.access import reader, writer
from linli_points.api.convert import adjustment_pb
from linli_runtime.auth import caller
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ident, text
from linli_runtime.paging import page_size

FULL_NAME = pb.DESCRIPTOR.services_by_name["AdjustmentService"].full_name


class AdjustmentServicer(adjustments_pb2_grpc.AdjustmentServiceServicer):
    def __init__(self, adjustments: Adjustments) -> None:
        self.adjustments = adjustments

    async def ProposeAdjustment(
        self, request: pb.ProposeAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ProposeAdjustmentResponse:
        path = writer(request.community_path)
        who = caller()
        adjustment_id = ident("adjustment_id", request.adjustment_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        if request.points == 0 or abs(request.points) > MAX_ADJUSTMENT:
            raise InvalidArgument.field("points", f"must be between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}, not 0")
        reason = text("reason", request.reason, 200, required=True)
        funding_source = ident("funding_source", request.funding_source) if request.funding_source else ""
        proposed = await self.adjustments.propose(path, adjustment_id, volunteer_id=volunteer_id,
                                                  points=request.points, reason=reason, proposed_by=who.subject,
                                                  funding_source=funding_source)
        return pb.ProposeAdjustmentResponse(adjustment=adjustment_pb(proposed))

    async def ApproveAdjustment(
        self, request: pb.ApproveAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveAdjustmentResponse:
        path = writer(request.community_path)
        who = caller()
        approved = await self.adjustments.approve(path, ident("adjustment_id", request.adjustment_id),
                                                  approver=who.subject)
        return pb.ApproveAdjustmentResponse(adjustment=adjustment_pb(approved))

    async def RejectAdjustment(
        self, request: pb.RejectAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectAdjustmentResponse:
        path = writer(request.community_path)
        who = caller()
        rejected = await self.adjustments.reject(path, ident("adjustment_id", request.adjustment_id),
                                                 decider=who.subject)
        return pb.RejectAdjustmentResponse(adjustment=adjustment_pb(rejected))

    async def ListAdjustments(
        self, request: pb.ListAdjustmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAdjustmentsResponse:
        path = reader(request.community_path)
        found, next_token = await self.adjustments.list_page(path, page_token=request.page_token,
                                                             size=page_size(request.page_size))
        return pb.ListAdjustmentsResponse(adjustments=[adjustment_pb(a) for a in found], next_page_token=next_token)
