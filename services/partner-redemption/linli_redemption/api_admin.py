"""Operators' services: PartnerService, CatalogService, MemberCardService, SettlementService."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rpb
from linli_redemption import settlement, terminals
from linli_redemption.common import (
    TOKEN_KIND,
    as_utc,
    check_range,
    check_request_id,
    check_slug,
    check_text,
    china_day,
    mask_name,
    page_size,
    parse_day,
    parse_name,
    reading,
    ts,
)
from linli_redemption.convert import KIND_NAMES, partner_pb, reward_pb, terminal_pb
from linli_redemption.members import Members
from linli_redemption.points_client import PointsClient
from linli_redemption.tables import partner, restock, reward, terminal
from linli_runtime.auth import Role, caller, require_role, require_scope
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import run_in_transaction

WRITERS = (Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.CITY_OPERATOR)


def full_name(service: str) -> str:
    return str(pb.DESCRIPTOR.services_by_name[service].full_name)


async def load_partner(db: Database, partner_id: str, *, merchant: bool = False) -> Any:
    async with reading(db) as session:
        row = (await session.execute(partner.select().where(partner.c.id == partner_id))).first()
    if row is None or (merchant and row.kind != "merchant"):
        raise NotFound(f"no {'merchant' if merchant else 'partner'} {partner_id}",
                       reason="MERCHANT_NOT_FOUND" if merchant else "PARTNER_NOT_FOUND")
    require_scope(row.community_path)
    return row


async def merchant_from(db: Database, parent: str, field: str = "parent") -> Any:
    (merchant_id,) = parse_name(parent, field, "merchants")
    return await load_partner(db, merchant_id, merchant=True)


def _when(message: Any, field: str) -> datetime | None:
    return as_utc(getattr(message, field).ToDatetime()) if message.HasField(field) else None


class PartnerServicer(admin_pb2_grpc.PartnerServiceServicer):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def ListPartners(self, request: pb.ListPartnersRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListPartnersResponse:
        path = require_scope(request.community_path)
        if not path:
            raise InvalidArgument.field("community_path", "is required")
        size = page_size(request.page_size)
        query = partner.select().where(partner.c.community_path == path)
        if request.kind:
            if request.kind not in KIND_NAMES:
                raise InvalidArgument.field("kind", "is not a known partner kind")
            query = query.where(partner.c.kind == KIND_NAMES[request.kind])
        async with reading(self.db) as conn:
            rows, next_token = await keyset_page(conn, query, partner.c.id, kind=TOKEN_KIND,
                                                 page_token=request.page_token, size=size)
        return pb.ListPartnersResponse(partners=[partner_pb(r) for r in rows], next_page_token=next_token)

    async def GetPartner(self, request: pb.GetPartnerRequest,
                         context: grpc.aio.ServicerContext) -> pb.GetPartnerResponse:
        (partner_id,) = parse_name(request.name, "name", "partners")
        return pb.GetPartnerResponse(partner=partner_pb(await load_partner(self.db, partner_id)))

    async def CreatePartner(self, request: pb.CreatePartnerRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreatePartnerResponse:
        given = request.partner
        path = require_scope(given.community_path)
        if not path:
            raise InvalidArgument.field("partner.community_path", "is required")
        require_role(*WRITERS)
        partner_id = check_slug(request.partner_id, "partner_id")
        if given.kind not in KIND_NAMES:
            raise InvalidArgument.field("partner.kind", "must be MEMBER_UNIT, SIGNED_PARTNER or MERCHANT")
        values = dict(id=partner_id, community_path=path, kind=KIND_NAMES[given.kind],
                      display_name=check_text(given.display_name, "partner.display_name", 200, required=True),
                      display_name_en=check_text(given.display_name_en, "partner.display_name_en", 200),
                      contact=check_text(given.contact, "partner.contact", 200),
                      agreement=check_text(given.agreement, "partner.agreement", 200),
                      placeholder=given.placeholder, create_time=self.clock.now())

        async def create(conn: AsyncConnection) -> Any:
            if (await conn.execute(partner.select().where(partner.c.id == partner_id))).first() is not None:
                raise AlreadyExists(f"partner {partner_id} exists", reason="PARTNER_EXISTS")
            await conn.execute(partner.insert().values(**values))
            return (await conn.execute(partner.select().where(partner.c.id == partner_id))).one()

        return pb.CreatePartnerResponse(partner=partner_pb(await run_in_transaction(self.db, create)))

    async def SetPartnerState(self, request: pb.SetPartnerStateRequest,
                              context: grpc.aio.ServicerContext) -> pb.SetPartnerStateResponse:
        (partner_id,) = parse_name(request.name, "name", "partners")
        await load_partner(self.db, partner_id)
        require_role(*WRITERS)
        states = {rpb.PARTNER_STATE_ACTIVE: "active", rpb.PARTNER_STATE_SUSPENDED: "suspended"}
        if request.state not in states:
            raise InvalidArgument.field("state", "must be ACTIVE or SUSPENDED")
        async with self.db.transaction() as tx:
            await (await tx.connection()).execute(partner.update().where(partner.c.id == partner_id)
                                                  .values(state=states[request.state]))
        return pb.SetPartnerStateResponse(partner=partner_pb(await load_partner(self.db, partner_id)))

    async def CreateTerminal(self, request: pb.CreateTerminalRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateTerminalResponse:
        merchant = await merchant_from(self.db, request.parent)
        require_role(*WRITERS)
        terminal_id = check_slug(request.terminal_id, "terminal_id")
        display = check_text(request.display_name, "display_name", 100)
        secret, salt, digest = terminals.new_secret()
        now = self.clock.now()

        async def create(conn: AsyncConnection) -> Any:
            if (await conn.execute(terminal.select().where(terminal.c.id == terminal_id))).first() is not None:
                raise AlreadyExists(f"terminal {terminal_id} exists; rotate its secret instead",
                                    reason="TERMINAL_EXISTS")
            await conn.execute(terminal.insert().values(id=terminal_id, merchant_id=merchant.id, display_name=display,
                                                        secret_salt=salt, secret_hash=digest, create_time=now,
                                                        secret_time=now))
            return (await conn.execute(terminal.select().where(terminal.c.id == terminal_id))).one()

        row = await run_in_transaction(self.db, create)
        return pb.CreateTerminalResponse(terminal=terminal_pb(row), secret=secret,
                                         authorization=terminals.authorization_value(terminal_id, secret))

    async def _terminal(self, name: str) -> Any:
        merchant_id, terminal_id = parse_name(name, "name", "merchants", "terminals")
        await load_partner(self.db, merchant_id, merchant=True)
        async with reading(self.db) as session:
            row = (await session.execute(terminal.select().where(terminal.c.id == terminal_id,
                                                                 terminal.c.merchant_id == merchant_id))).first()
        if row is None:
            raise NotFound(f"merchant {merchant_id} has no terminal {terminal_id}", reason="TERMINAL_NOT_FOUND")
        return row

    async def RotateTerminalSecret(self, request: pb.RotateTerminalSecretRequest,
                                   context: grpc.aio.ServicerContext) -> pb.RotateTerminalSecretResponse:
        row = await self._terminal(request.name)
        require_role(*WRITERS)
        if row.state != "active":
            raise FailedPrecondition("a revoked terminal stays revoked; create a new one", reason="TERMINAL_REVOKED")
        secret, salt, digest = terminals.new_secret()
        async with self.db.transaction() as tx:
            session = await tx.connection()
            await session.execute(terminal.update().where(terminal.c.id == row.id).values(
                secret_salt=salt, secret_hash=digest, secret_time=self.clock.now()))
        row = await self._terminal(request.name)
        return pb.RotateTerminalSecretResponse(terminal=terminal_pb(row), secret=secret,
                                               authorization=terminals.authorization_value(row.id, secret))

    async def RevokeTerminal(self, request: pb.RevokeTerminalRequest,
                             context: grpc.aio.ServicerContext) -> pb.RevokeTerminalResponse:
        row = await self._terminal(request.name)
        require_role(*WRITERS)
        async with self.db.transaction() as tx:
            session = await tx.connection()
            await session.execute(terminal.update().where(terminal.c.id == row.id).values(state="revoked"))
        return pb.RevokeTerminalResponse(terminal=terminal_pb(await self._terminal(request.name)))

    async def ListTerminals(self, request: pb.ListTerminalsRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListTerminalsResponse:
        merchant = await merchant_from(self.db, request.parent)
        async with reading(self.db) as conn:
            rows, next_token = await keyset_page(
                conn, terminal.select().where(terminal.c.merchant_id == merchant.id), terminal.c.id,
                kind=TOKEN_KIND, page_token=request.page_token, size=page_size(request.page_size))
        return pb.ListTerminalsResponse(terminals=[terminal_pb(r) for r in rows], next_page_token=next_token)


class CatalogServicer(admin_pb2_grpc.CatalogServiceServicer):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def CreateReward(self, request: pb.CreateRewardRequest,
                           context: grpc.aio.ServicerContext) -> pb.CreateRewardResponse:
        merchant = await merchant_from(self.db, request.parent)
        require_role(*WRITERS)
        reward_id = check_slug(request.reward_id, "reward_id")
        given = request.reward
        values = dict(
            merchant_id=merchant.id, id=reward_id,
            display_name=check_text(given.display_name, "reward.display_name", 200, required=True),
            points=check_range(given.points, "reward.points", 1, 1_000_000),
            stock=given.stock if given.stock == -1 else check_range(given.stock, "reward.stock", 0, 1_000_000_000),
            per_volunteer_limit=check_range(given.per_volunteer_limit, "reward.per_volunteer_limit", 0, 10_000),
            daily_quota=check_range(given.daily_quota, "reward.daily_quota", 0, 1_000_000),
            valid_from=_when(given, "valid_from"), valid_until=_when(given, "valid_until"),
            create_time=self.clock.now())
        if values["valid_from"] and values["valid_until"] and values["valid_until"] <= values["valid_from"]:
            raise InvalidArgument.field("reward.valid_until", "must be after valid_from")

        async def create(conn: AsyncConnection) -> Any:
            key = (reward.c.merchant_id == merchant.id) & (reward.c.id == reward_id)
            if (await conn.execute(reward.select().where(key))).first() is not None:
                raise AlreadyExists(f"merchant {merchant.id} already has a reward {reward_id}",
                                    reason="REWARD_EXISTS")
            await conn.execute(reward.insert().values(**values))
            return (await conn.execute(reward.select().where(key))).one()

        return pb.CreateRewardResponse(reward=reward_pb(await run_in_transaction(self.db, create)))

    async def _reward(self, name: str) -> Any:
        merchant_id, reward_id = parse_name(name, "name", "merchants", "rewards")
        await load_partner(self.db, merchant_id, merchant=True)
        async with reading(self.db) as session:
            row = (await session.execute(reward.select().where(reward.c.merchant_id == merchant_id,
                                                               reward.c.id == reward_id))).first()
        if row is None:
            raise NotFound(f"merchant {merchant_id} has no reward {reward_id}", reason="REWARD_NOT_FOUND")
        return row

    async def GetReward(self, request: pb.GetRewardRequest, context: grpc.aio.ServicerContext) -> pb.GetRewardResponse:
        return pb.GetRewardResponse(reward=reward_pb(await self._reward(request.name)))

    async def ListMerchantRewards(self, request: pb.ListMerchantRewardsRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ListMerchantRewardsResponse:
        merchant = await merchant_from(self.db, request.parent)
        async with reading(self.db) as conn:
            rows, next_token = await keyset_page(
                conn, reward.select().where(reward.c.merchant_id == merchant.id), reward.c.id,
                kind=TOKEN_KIND, page_token=request.page_token, size=page_size(request.page_size))
        return pb.ListMerchantRewardsResponse(rewards=[reward_pb(r) for r in rows], next_page_token=next_token)

    async def RestockReward(self, request: pb.RestockRewardRequest,
                            context: grpc.aio.ServicerContext) -> pb.RestockRewardResponse:
        row = await self._reward(request.name)
        require_role(*WRITERS)
        units = check_range(request.units, "units", 1, 1_000_000)
        request_id = check_request_id(request.request_id)
        if row.stock == -1:
            raise FailedPrecondition("this reward has unlimited stock", reason="STOCK_UNLIMITED")

        async def add(conn: AsyncConnection) -> None:
            done = (await conn.execute(restock.select().where(
                restock.c.merchant_id == row.merchant_id, restock.c.reward_id == row.id,
                restock.c.request_id == request_id))).first()
            if done is not None:
                if done.units != units:
                    raise AlreadyExists("this request id restocked a different number of units",
                                        reason="REQUEST_ID_REUSED")
                return
            await conn.execute(restock.insert().values(merchant_id=row.merchant_id, reward_id=row.id,
                                                       request_id=request_id, units=units))
            await conn.execute(reward.update().where(reward.c.merchant_id == row.merchant_id, reward.c.id == row.id)
                               .values(stock=reward.c.stock + units))

        await run_in_transaction(self.db, add)
        return pb.RestockRewardResponse(reward=reward_pb(await self._reward(request.name)))


class MemberCardServicer(admin_pb2_grpc.MemberCardServiceServicer):
    def __init__(self, members: Members) -> None:
        self.members = members

    @staticmethod
    def _check(community_path: str, volunteer_id: str) -> None:
        who = caller()
        if who.role == Role.VOLUNTEER:
            if who.subject != volunteer_id:
                raise PermissionDenied("a volunteer may see only their own member code", reason="NOT_YOUR_CARD")
            require_scope(community_path)
            return
        require_scope(community_path)
        require_role(*WRITERS)

    async def IssueMemberCard(self, request: pb.IssueMemberCardRequest,
                              context: grpc.aio.ServicerContext) -> pb.IssueMemberCardResponse:
        self._check(request.community_path, request.volunteer_id)
        card = await self.members.card(request.community_path, request.volunteer_id, issue=True)
        return pb.IssueMemberCardResponse(card_number=card.card_number, community_path=card.community_path,
                                          volunteer_id=card.volunteer_id, masked_member=mask_name(card.display_name))

    async def GetMemberCode(self, request: pb.GetMemberCodeRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetMemberCodeResponse:
        self._check(request.community_path, request.volunteer_id)
        code, expires = await self.members.current_code(request.community_path, request.volunteer_id)
        return pb.GetMemberCodeResponse(member_code=code, expire_time=ts(expires))


class SettlementServicer(admin_pb2_grpc.SettlementServiceServicer):
    def __init__(self, db: Database, clock: Clock, points: PointsClient) -> None:
        self.db, self.clock, self.points = db, clock, points

    async def GetMerchantSettlement(self, request: pb.GetMerchantSettlementRequest,
                                    context: grpc.aio.ServicerContext) -> pb.GetMerchantSettlementResponse:
        merchant = await merchant_from(self.db, request.parent)
        day = parse_day(request.date).isoformat() if request.date else china_day(self.clock.now())
        return pb.GetMerchantSettlementResponse(settlement=await settlement.merchant_day(self.db, merchant.id, day))

    async def ReconcileDay(self, request: pb.ReconcileDayRequest,
                           context: grpc.aio.ServicerContext) -> pb.ReconcileDayResponse:
        path = require_scope(request.community_path)
        if not path:
            raise InvalidArgument.field("community_path", "is required")
        day = parse_day(request.date).isoformat()
        return await settlement.reconcile(self.db, self.points, path, day, ts(self.clock.now()))  # type: ignore[arg-type]
