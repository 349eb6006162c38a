"""linli.redemption.v1.PosService: the API partner merchants' POS systems call (terminal
credentials only)."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import pos_pb2_grpc
from linli_redemption import names
from linli_redemption.api.access import terminal
from linli_redemption.api.convert import redemption_pb, refund_pb, reward_pb, settlement_pb
from linli_redemption.catalog import Catalog
from linli_redemption.members import Members
from linli_redemption.points import Points
from linli_redemption.redemption_rules import COMMITTED, check_merchant
from linli_redemption.redemptions import Redemptions
from linli_redemption.settlement import Settlement
from linli_runtime import paging, times
from linli_runtime.auth import PrincipalKind, allows
from linli_runtime.clock import Clock
from linli_runtime.errors import Unavailable

FULL_NAME = pb.DESCRIPTOR.services_by_name["PosService"].full_name


class PosServicer(pos_pb2_grpc.PosServiceServicer):
    def __init__(self, members: Members, redemptions: Redemptions, catalog: Catalog, settlement: Settlement,
                 points: Points, clock: Clock) -> None:
        self.members, self.redemptions, self.catalog = members, redemptions, catalog
        self.settlement, self.points, self.clock = settlement, points, clock

    @allows(PrincipalKind.TERMINAL)
    async def ResolveMemberCode(self, request: pb.ResolveMemberCodeRequest,
                                context: grpc.aio.ServicerContext) -> pb.ResolveMemberCodeResponse:
        session = await self.members.resolve(terminal(), request.member_code)
        available = await self.points.available(session.community_path, session.volunteer_id)
        return pb.ResolveMemberCodeResponse(member_session=session.session_id, masked_member=session.masked_member,
                                            available_points=available,
                                            expire_time=times.to_timestamp(session.expire_time))

    @allows(PrincipalKind.TERMINAL)
    async def ListRewards(self, request: pb.ListRewardsRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListRewardsResponse:
        who = terminal()
        merchant_id = names.parse_merchant("parent", request.parent)
        check_merchant(who, merchant_id)
        rewards, next_token = await self.catalog.list(merchant_id, request.page_token,
                                                      paging.page_size(request.page_size), valid_at=self.clock.now())
        return pb.ListRewardsResponse(rewards=[reward_pb(r) for r in rewards], next_page_token=next_token)

    @allows(PrincipalKind.TERMINAL)
    async def QuoteRedemption(self, request: pb.QuoteRedemptionRequest,
                              context: grpc.aio.ServicerContext) -> pb.QuoteRedemptionResponse:
        quote = await self.redemptions.quote(terminal(), request.reward, request.member_session, request.quantity)
        return pb.QuoteRedemptionResponse(points=quote.points, available_points=quote.available_points,
                                          redeemable=quote.redeemable, refusal_reason=quote.refusal_reason,
                                          refusal_message=quote.refusal_message)

    @allows(PrincipalKind.TERMINAL)
    async def Redeem(self, request: pb.RedeemRequest, context: grpc.aio.ServicerContext) -> pb.RedeemResponse:
        row = await self.redemptions.redeem(terminal(), request.reward, request.member_session, request.quantity,
                                            request.request_id, request.expected_points)
        if row.state != COMMITTED:  # still pending after a ledger hiccup the recovery will settle
            raise Unavailable("the redemption is still being settled; retry with the same request id",
                              reason="REDEMPTION_PENDING")
        return pb.RedeemResponse(redemption=redemption_pb(row))

    @allows(PrincipalKind.TERMINAL)
    async def GetRedemption(self, request: pb.GetRedemptionRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetRedemptionResponse:
        row = await self.redemptions.get_for(terminal(), request.name)
        return pb.GetRedemptionResponse(redemption=redemption_pb(row))

    @allows(PrincipalKind.TERMINAL)
    async def CancelRedemption(self, request: pb.CancelRedemptionRequest,
                               context: grpc.aio.ServicerContext) -> pb.CancelRedemptionResponse:
        row = await self.redemptions.cancel(terminal(), request.parent, request.request_id)
        return pb.CancelRedemptionResponse(redemption=redemption_pb(row))

    @allows(PrincipalKind.TERMINAL)
    async def RefundRedemption(self, request: pb.RefundRedemptionRequest,
                               context: grpc.aio.ServicerContext) -> pb.RefundRedemptionResponse:
        item, row = await self.redemptions.refund(terminal(), request.name, request.request_id, request.points,
                                                  request.reason)
        return pb.RefundRedemptionResponse(refund=refund_pb(item), redemption=redemption_pb(row))

    @allows(PrincipalKind.TERMINAL)
    async def GetDailySettlement(self, request: pb.GetDailySettlementRequest,
                                 context: grpc.aio.ServicerContext) -> pb.GetDailySettlementResponse:
        who = terminal()
        merchant_id = names.parse_merchant("parent", request.parent)
        check_merchant(who, merchant_id)
        day = (times.parse_date("date", request.date) if request.date else times.local_day(self.clock.now()))
        settled = await self.settlement.merchant_day(merchant_id, day.isoformat())
        return pb.GetDailySettlementResponse(settlement=settlement_pb(settled))
