"""linli.redemption.v1.SettlementService: a merchant's day, and a community's day reconciled
with the points ledger."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli_redemption.api import access
from linli_redemption.api.convert import reconciliation_pb, redemptions_summary_pb, settlement_pb
from linli_redemption.partners import Partners
from linli_redemption.settlement import Settlement
from linli_runtime import times
from linli_runtime.clock import Clock
from linli_runtime.errors import InvalidArgument

MAX_SUMMARY_WAIT_S = 120.0  # the longest the ledger's day totals are waited for, whatever the caller allows
MAX_COMMUNITIES_SUMMED = 1000  # per SummarizeRedemptions: the city's 5000 communities in 5 calls
MAX_DAYS_SUMMED = 31  # the dashboard's last 7 or 30 days

FULL_NAME = pb.DESCRIPTOR.services_by_name["SettlementService"].full_name


class SettlementServicer(admin_pb2_grpc.SettlementServiceServicer):
    def __init__(self, partners: Partners, settlement: Settlement, clock: Clock) -> None:
        self.partners, self.settlement, self.clock = partners, settlement, clock

    async def GetMerchantSettlement(self, request: pb.GetMerchantSettlementRequest,
                                    context: grpc.aio.ServicerContext) -> pb.GetMerchantSettlementResponse:
        merchant = await access.merchant_named(self.partners, request.parent)
        access.staff_reader(merchant.community_path)
        day = times.parse_date("date", request.date) if request.date else times.local_day(self.clock.now())
        settled = await self.settlement.merchant_day(merchant.id, day.isoformat())
        return pb.GetMerchantSettlementResponse(settlement=settlement_pb(settled))

    async def ReconcileDay(self, request: pb.ReconcileDayRequest,
                           context: grpc.aio.ServicerContext) -> pb.ReconcileDayResponse:
        path = access.staff_reader(request.community_path)
        day = times.parse_date("date", request.date).isoformat()
        return reconciliation_pb(await self.settlement.reconcile(path, day), self.clock.now())

    async def SummarizeRedemptions(self, request: pb.SummarizeRedemptionsRequest,
                                   context: grpc.aio.ServicerContext) -> pb.SummarizeRedemptionsResponse:
        if not 1 <= len(request.community_paths) <= MAX_COMMUNITIES_SUMMED:
            raise InvalidArgument.field("community_paths", f"give 1 to {MAX_COMMUNITIES_SUMMED} communities per call")
        paths = [access.staff_reader(p, f"community_paths[{i}]") for i, p in enumerate(request.community_paths)]
        if len(set(paths)) != len(paths):
            twice = next(p for p in paths if paths.count(p) > 1)
            raise InvalidArgument.field("community_paths", f"{twice} is named twice; name each community once")
        first = times.parse_date("start_date", request.start_date)
        last = times.parse_date("end_date", request.end_date) if request.end_date else first
        if not 0 <= (last - first).days < MAX_DAYS_SUMMED:
            raise InvalidArgument.field("end_date", f"must be start_date or one of the {MAX_DAYS_SUMMED - 1} days "
                                                    f"after it (got {request.start_date} to {request.end_date})")
        left = context.time_remaining()
        return redemptions_summary_pb(await self.settlement.summarize(
            paths, first.isoformat(), last.isoformat(), timeout=min(left, MAX_SUMMARY_WAIT_S) if left else None))
