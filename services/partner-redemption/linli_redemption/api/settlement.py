"""linli.redemption.v1.SettlementService: a merchant's day, and a community's day reconciled
with the points ledger."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli_redemption.api import access
from linli_redemption.api.convert import reconciliation_pb, settlement_pb
from linli_redemption.partners import Partners
from linli_redemption.settlement import Settlement
from linli_runtime import times
from linli_runtime.clock import Clock

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
