"""linli.redemption.v1.PosService: the API partner merchants' POS systems call."""

from __future__ import annotations

import grpc
import sqlalchemy as sa

from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import pos_pb2_grpc
from linli_redemption import settlement
from linli_redemption.common import (
    TOKEN_KIND,
    check_range,
    china_day,
    page_size,
    parse_day,
    parse_name,
    reading,
    ts,
)
from linli_redemption.convert import redemption_pb, refund_pb, reward_pb
from linli_redemption.members import Members, TerminalCaller
from linli_redemption.redemptions import Redemptions, check_merchant
from linli_redemption.tables import reward
from linli_runtime.auth import PrincipalKind, caller
from linli_runtime.db import Database
from linli_runtime.errors import NotFound, PermissionDenied, Unavailable
from linli_runtime.paging import keyset_page

FULL_NAME = pb.DESCRIPTOR.services_by_name["PosService"].full_name


def terminal() -> TerminalCaller:
    who = caller()
    if who.kind != PrincipalKind.TERMINAL:
        raise PermissionDenied("the POS API takes terminal credentials ('authorization: Terminal {id}:{secret}')",
                               reason="TERMINAL_ONLY")
    return TerminalCaller(who.subject, str(who.claims["merchant_id"]), who.scope)


class PosServicer(pos_pb2_grpc.PosServiceServicer):
    def __init__(self, db: Database, members: Members, redemptions: Redemptions) -> None:
        self.db, self.members, self.redemptions = db, members, redemptions
        self.clock = redemptions.clock

    async def ResolveMemberCode(self, request: pb.ResolveMemberCodeRequest,
                                context: grpc.aio.ServicerContext) -> pb.ResolveMemberCodeResponse:
        who = terminal()
        session = await self.members.resolve(who, request.member_code)
        available = await self.redemptions.points.available(session.community_path, session.volunteer_id)
        return pb.ResolveMemberCodeResponse(member_session=session.session_id, masked_member=session.masked_member,
                                            available_points=available, expire_time=ts(session.expire_time))

    async def ListRewards(self, request: pb.ListRewardsRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListRewardsResponse:
        who = terminal()
        (merchant_id,) = parse_name(request.parent, "parent", "merchants")
        check_merchant(who, merchant_id)
        now = self.clock.now()
        valid_now = reward.select().where(
            reward.c.merchant_id == merchant_id,
            sa.or_(reward.c.valid_from.is_(None), reward.c.valid_from <= now),
            sa.or_(reward.c.valid_until.is_(None), reward.c.valid_until > now))
        async with reading(self.db) as conn:
            rows, next_token = await keyset_page(conn, valid_now, reward.c.id, kind=TOKEN_KIND,
                                                 page_token=request.page_token, size=page_size(request.page_size))
        return pb.ListRewardsResponse(rewards=[reward_pb(r) for r in rows], next_page_token=next_token)

    async def QuoteRedemption(self, request: pb.QuoteRedemptionRequest,
                              context: grpc.aio.ServicerContext) -> pb.QuoteRedemptionResponse:
        who = terminal()
        merchant_id, reward_id = parse_name(request.reward, "reward", "merchants", "rewards")
        check_merchant(who, merchant_id)
        check_range(request.quantity, "quantity", 1, 100)
        member = await self.members.session(who, request.member_session)
        async with reading(self.db) as session:
            item = (await session.execute(reward.select().where(reward.c.merchant_id == merchant_id,
                                                                reward.c.id == reward_id))).first()
        if item is None:
            raise NotFound(f"merchant {merchant_id} has no reward {reward_id}", reason="REWARD_NOT_FOUND")
        points = int(item.points) * request.quantity
        available = await self.redemptions.points.available(member.community_path, member.volunteer_id)
        refusal = ""
        if item.stock != -1 and item.stock < request.quantity:
            refusal = "OUT_OF_STOCK"
        elif available < points:
            refusal = "INSUFFICIENT_POINTS"
        return pb.QuoteRedemptionResponse(points=points, available_points=available, redeemable=not refusal,
                                          refusal_reason=refusal)

    async def Redeem(self, request: pb.RedeemRequest, context: grpc.aio.ServicerContext) -> pb.RedeemResponse:
        row = await self.redemptions.redeem(terminal(), request.reward, request.member_session, request.quantity,
                                            request.request_id, request.expected_points)
        if row.state != "committed":  # still pending after a ledger hiccup the recovery will settle
            raise Unavailable("the redemption is still being settled; retry with the same request id",
                              reason="REDEMPTION_PENDING")
        return pb.RedeemResponse(redemption=redemption_pb(row))

    async def GetRedemption(self, request: pb.GetRedemptionRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetRedemptionResponse:
        who = terminal()
        merchant_id, redemption_id = parse_name(request.name, "name", "merchants", "redemptions")
        check_merchant(who, merchant_id)
        return pb.GetRedemptionResponse(redemption=redemption_pb(await self.redemptions.get(merchant_id,
                                                                                             redemption_id)))

    async def CancelRedemption(self, request: pb.CancelRedemptionRequest,
                               context: grpc.aio.ServicerContext) -> pb.CancelRedemptionResponse:
        row = await self.redemptions.cancel(terminal(), request.parent, request.request_id)
        return pb.CancelRedemptionResponse(redemption=redemption_pb(row))

    async def RefundRedemption(self, request: pb.RefundRedemptionRequest,
                               context: grpc.aio.ServicerContext) -> pb.RefundRedemptionResponse:
        item, row = await self.redemptions.refund(terminal(), request.name, request.request_id, request.points,
                                                  request.reason)
        return pb.RefundRedemptionResponse(refund=refund_pb(item), redemption=redemption_pb(row))

    async def GetDailySettlement(self, request: pb.GetDailySettlementRequest,
                                 context: grpc.aio.ServicerContext) -> pb.GetDailySettlementResponse:
        who = terminal()
        (merchant_id,) = parse_name(request.parent, "parent", "merchants")
        check_merchant(who, merchant_id)
        day = parse_day(request.date).isoformat() if request.date else china_day(self.clock.now())
        return pb.GetDailySettlementResponse(settlement=await settlement.merchant_day(self.db, merchant_id, day))
