"""linli.notification.v1.DutyRosterService: settings, shifts, swaps, who is on duty, providers."""

from __future__ import annotations

import json
import uuid

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification import community as comm
from linli_notification.api_common import once, page_size, require_staff, text_field
from linli_notification.helpdesk import EventMaker
from linli_notification.names import child_name, community_name, parse_child, parse_community, valid_id
from linli_notification.tables import duty_shift, duty_swap, provider
from linli_notification.times import as_utc, hhmm, parse_date, parse_hhmm
from linli_runtime.auth import require_scope
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, NotFound
from linli_runtime.paging import keyset_page

MAX_SLA_MINUTES = 7 * 24 * 60


def shift_proto(row) -> pb.DutyShift:  # type: ignore[no-untyped-def]
    return pb.DutyShift(name=child_name(row.community_path, "dutyShifts", row.id), weekday=row.weekday,
                        date=row.on_date or "", start_time=hhmm(row.start_minute), end_time=hhmm(row.end_minute),
                        worker_id=row.worker_id, backup_id=row.backup_id, note=row.note)


def provider_proto(row) -> pb.Provider:  # type: ignore[no-untyped-def]
    return pb.Provider(
        name=child_name(row.community_path, "providers", row.id), display_name=row.display_name,
        category=row.category, phone=row.phone, priority=row.priority,
        opening_hours=[pb.OpeningHours(weekday=d, open_time=hhmm(o), close_time=hhmm(c))
                       for d, o, c in comm.hours_of(row.opening_hours)])


def settings_proto(s: comm.Settings) -> pb.CommunitySettings:
    return pb.CommunitySettings(
        name=community_name(s.path) + "/settings", head_id=s.head_id,
        sla_critical_minutes=s.sla_critical_minutes, sla_high_minutes=s.sla_high_minutes,
        sla_normal_minutes=s.sla_normal_minutes, sla_low_minutes=s.sla_low_minutes,
        utc_offset_minutes=s.utc_offset_minutes)


def _settings_path(field: str, name: str) -> str:
    if not name.endswith("/settings"):
        raise InvalidArgument.field(field, f"{name!r} is not a name 'communities/{{community}}/settings'")
    return parse_community(field, name.removesuffix("/settings"))


class DutyRosterServicer(pb_grpc.DutyRosterServiceServicer):
    def __init__(self, app: EventMaker, db: Database) -> None:
        self.app = app
        self.db = db

    async def GetCommunitySettings(self, request: pb.GetCommunitySettingsRequest,
                                   context: grpc.aio.ServicerContext) -> pb.GetCommunitySettingsResponse:
        path = require_scope(_settings_path("name", request.name))
        async with self.db.transaction() as session:
            return pb.GetCommunitySettingsResponse(
                settings=settings_proto(await comm.settings_of(await session.connection(), path)))

    async def UpdateCommunitySettings(self, request: pb.UpdateCommunitySettingsRequest,
                                      context: grpc.aio.ServicerContext) -> pb.UpdateCommunitySettingsResponse:
        if not request.HasField("settings"):
            raise InvalidArgument.field("settings", "is required")
        s = request.settings
        path = _settings_path("settings.name", s.name)
        if s.head_id:
            valid_id("settings.head_id", s.head_id)
        slas = {}
        for key, default in (("critical", 10), ("high", 30), ("normal", 60), ("low", 240)):
            minutes = getattr(s, f"sla_{key}_minutes")
            if not 0 <= minutes <= MAX_SLA_MINUTES:
                raise InvalidArgument.field(f"settings.sla_{key}_minutes", f"must be 0 (default) to {MAX_SLA_MINUTES}")
            slas[f"sla_{key}_minutes"] = minutes or default
        if not -12 * 60 <= s.utc_offset_minutes <= 14 * 60:
            raise InvalidArgument.field("settings.utc_offset_minutes", "must be between -720 and 840")
        require_scope(path, require_staff())
        saved = comm.Settings(path=path, head_id=s.head_id, utc_offset_minutes=s.utc_offset_minutes or 480, **slas)
        async with self.db.transaction() as session:
            await comm.save_settings(await session.connection(), saved)
        return pb.UpdateCommunitySettingsResponse(settings=settings_proto(saved))

    async def CreateDutyShift(self, request: pb.CreateDutyShiftRequest,
                              context: grpc.aio.ServicerContext) -> pb.CreateDutyShiftResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("duty_shift"):
            raise InvalidArgument.field("duty_shift", "is required")
        shift = request.duty_shift
        if bool(shift.date) == bool(shift.weekday):
            raise InvalidArgument.field("duty_shift.weekday", "set either weekday (1 Monday … 7 Sunday) or date")
        if shift.weekday and not 1 <= shift.weekday <= 7:
            raise InvalidArgument.field("duty_shift.weekday", "must be 1 (Monday) … 7 (Sunday)")
        on_date = parse_date("duty_shift.date", shift.date) if shift.date else None
        start = parse_hhmm("duty_shift.start_time", shift.start_time)
        end = parse_hhmm("duty_shift.end_time", shift.end_time, allow_24=True)
        if end <= start:
            raise InvalidArgument.field("duty_shift.end_time", "must be after start_time (split overnight shifts)")
        worker = valid_id("duty_shift.worker_id", shift.worker_id)
        backup = valid_id("duty_shift.backup_id", shift.backup_id) if shift.backup_id else ""
        note = text_field("duty_shift.note", shift.note, limit=500)
        require_scope(path, require_staff())

        async def run(conn: AsyncConnection) -> pb.CreateDutyShiftResponse:
            ident = "s-" + uuid.uuid4().hex[:12]
            await conn.execute(duty_shift.insert().values(
                id=ident, community_path=path, weekday=shift.weekday, on_date=on_date, start_minute=start,
                end_minute=end, worker_id=worker, backup_id=backup, note=note))
            row = (await conn.execute(sa.select(duty_shift).where(duty_shift.c.id == ident))).one()
            return pb.CreateDutyShiftResponse(duty_shift=shift_proto(row))

        return await once(self.db, self.app.clock, "CreateDutyShift", request, pb.CreateDutyShiftResponse, run)

    async def ListDutyShifts(self, request: pb.ListDutyShiftsRequest,
                             context: grpc.aio.ServicerContext) -> pb.ListDutyShiftsResponse:
        path = require_scope(parse_community("parent", request.parent))
        size = page_size(request.page_size)
        scope = f"shifts|{path}"
        query = sa.select(duty_shift).where(duty_shift.c.community_path == path)
        async with self.db.transaction() as session:
            rows, next_token = await keyset_page(await session.connection(), query, duty_shift.c.seq, kind=scope,
                                                 page_token=request.page_token, size=size)
        return pb.ListDutyShiftsResponse(duty_shifts=[shift_proto(r) for r in rows], next_page_token=next_token)

    async def DeleteDutyShift(self, request: pb.DeleteDutyShiftRequest,
                              context: grpc.aio.ServicerContext) -> pb.DeleteDutyShiftResponse:
        path, ident = parse_child("name", request.name, "dutyShifts")
        require_scope(path, require_staff())
        async with self.db.transaction() as session:
            deleted = await (await session.connection()).execute(duty_shift.delete().where(
                duty_shift.c.id == ident, duty_shift.c.community_path == path))
        if deleted.rowcount == 0:
            raise NotFound(f"duty shift {request.name!r} does not exist", reason="DUTY_SHIFT_NOT_FOUND")
        return pb.DeleteDutyShiftResponse()

    async def CreateDutySwap(self, request: pb.CreateDutySwapRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateDutySwapResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("duty_swap"):
            raise InvalidArgument.field("duty_swap", "is required")
        swap = request.duty_swap
        on_date = parse_date("duty_swap.date", swap.date)
        giver = valid_id("duty_swap.from_worker_id", swap.from_worker_id)
        taker = valid_id("duty_swap.to_worker_id", swap.to_worker_id)
        if giver == taker:
            raise InvalidArgument.field("duty_swap.to_worker_id", "must differ from from_worker_id")
        require_scope(path, require_staff())

        async def run(conn: AsyncConnection) -> pb.CreateDutySwapResponse:
            ident = "w-" + uuid.uuid4().hex[:12]
            await conn.execute(duty_swap.insert().values(id=ident, community_path=path, on_date=on_date,
                                                         from_worker_id=giver, to_worker_id=taker))
            return pb.CreateDutySwapResponse(duty_swap=pb.DutySwap(
                name=child_name(path, "dutySwaps", ident), date=on_date, from_worker_id=giver, to_worker_id=taker))

        return await once(self.db, self.app.clock, "CreateDutySwap", request, pb.CreateDutySwapResponse, run)

    async def GetOnDuty(self, request: pb.GetOnDutyRequest,
                        context: grpc.aio.ServicerContext) -> pb.GetOnDutyResponse:
        path = require_scope(parse_community("parent", request.parent))
        when = as_utc(request.time.ToDatetime()) if request.HasField("time") else self.app.clock.now()
        async with self.db.transaction() as session:
            conn = await session.connection()
            settings = await comm.settings_of(conn, path)
            duty = await comm.on_duty_at(conn, path, when, settings.utc_offset_minutes)
        if duty is None:
            return pb.GetOnDutyResponse(head_id=settings.head_id)
        return pb.GetOnDutyResponse(worker_id=duty.worker_id, backup_id=duty.backup_id, head_id=settings.head_id,
                                    duty_shift=child_name(path, "dutyShifts", duty.shift_id))

    async def CreateProvider(self, request: pb.CreateProviderRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateProviderResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("provider"):
            raise InvalidArgument.field("provider", "is required")
        p = request.provider
        display = text_field("provider.display_name", p.display_name, required=True, limit=200)
        category = text_field("provider.category", p.category, required=True, limit=64)
        phone = text_field("provider.phone", p.phone, limit=64)
        hours = []
        for i, h in enumerate(p.opening_hours):
            if not 1 <= h.weekday <= 7:
                raise InvalidArgument.field(f"provider.opening_hours[{i}].weekday", "must be 1 (Monday) … 7 (Sunday)")
            opens = parse_hhmm(f"provider.opening_hours[{i}].open_time", h.open_time)
            closes = parse_hhmm(f"provider.opening_hours[{i}].close_time", h.close_time, allow_24=True)
            if closes <= opens:
                raise InvalidArgument.field(f"provider.opening_hours[{i}].close_time", "must be after open_time")
            hours.append([h.weekday, opens, closes])
        require_scope(path, require_staff())

        async def run(conn: AsyncConnection) -> pb.CreateProviderResponse:
            ident = "p-" + uuid.uuid4().hex[:12]
            await conn.execute(provider.insert().values(
                id=ident, community_path=path, display_name=display, category=category, phone=phone,
                priority=p.priority, opening_hours=json.dumps(hours)))
            row = (await conn.execute(sa.select(provider).where(provider.c.id == ident))).one()
            return pb.CreateProviderResponse(provider=provider_proto(row))

        return await once(self.db, self.app.clock, "CreateProvider", request, pb.CreateProviderResponse, run)

    async def ListProviders(self, request: pb.ListProvidersRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListProvidersResponse:
        path = require_scope(parse_community("parent", request.parent))
        size = page_size(request.page_size)
        scope = f"providers|{path}|{request.category}"
        query = sa.select(provider).where(provider.c.community_path == path)
        if request.category:
            query = query.where(provider.c.category == request.category)
        async with self.db.transaction() as session:
            rows, next_token = await keyset_page(await session.connection(), query, provider.c.seq, kind=scope,
                                                 page_token=request.page_token, size=size)
        return pb.ListProvidersResponse(providers=[provider_proto(r) for r in rows], next_page_token=next_token)
