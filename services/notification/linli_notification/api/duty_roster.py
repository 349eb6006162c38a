"""linli.notification.v1.DutyRosterService: settings, shifts, swaps, who is on duty, providers."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification import workers
from linli_notification.api import convert
from linli_notification.api.access import staff
from linli_notification.community import (
    DEFAULT_SLA_MINUTES,
    DEFAULT_UTC_OFFSET_MINUTES,
    MAX_SLA_MINUTES,
    MAX_UTC_OFFSET_MINUTES,
    MIN_UTC_OFFSET_MINUTES,
    Communities,
    NewProvider,
    NewShift,
    Settings,
)
from linli_notification.names import (
    DUTY_SHIFTS,
    child_name,
    parse_child,
    parse_community,
    parse_settings,
)
from linli_runtime import fields, idempotency
from linli_runtime.auth import reach
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import as_utc, parse_date, parse_hhmm


class DutyRosterServicer(pb_grpc.DutyRosterServiceServicer):
    def __init__(self, communities: Communities, db: Database, clock: Clock, places: KnownUnits) -> None:
        self.communities = communities
        self.db = db  # for AIP-155 request ids (linli_runtime.idempotency)
        self.clock = clock
        self.places = places

    async def GetCommunitySettings(self, request: pb.GetCommunitySettingsRequest,
                                   context: Any) -> pb.GetCommunitySettingsResponse:
        path = reach(parse_settings("name", request.name))
        return pb.GetCommunitySettingsResponse(settings=convert.settings(await self.communities.settings(path)))

    async def UpdateCommunitySettings(self, request: pb.UpdateCommunitySettingsRequest,
                                      context: Any) -> pb.UpdateCommunitySettingsResponse:
        if not request.HasField("settings"):
            raise InvalidArgument.field("settings", "is required")
        s = request.settings
        path = parse_settings("settings.name", s.name)
        head = workers.account_id("settings.head_id", s.head_id, required=False)
        slas = {}
        for key, urgency in (("critical", pb.URGENCY_CRITICAL), ("high", pb.URGENCY_HIGH),
                             ("normal", pb.URGENCY_NORMAL), ("low", pb.URGENCY_LOW)):
            minutes = getattr(s, f"sla_{key}_minutes")
            if not 0 <= minutes <= MAX_SLA_MINUTES:
                raise InvalidArgument.field(f"settings.sla_{key}_minutes", f"must be 0 (default) to {MAX_SLA_MINUTES}")
            slas[f"sla_{key}_minutes"] = minutes or DEFAULT_SLA_MINUTES[urgency]
        fields.in_range("settings.utc_offset_minutes", s.utc_offset_minutes, MIN_UTC_OFFSET_MINUTES,
                        MAX_UTC_OFFSET_MINUTES)
        staff(path)
        await self.places.require(path, field="settings.name")
        saved = await self.communities.update_settings(Settings(
            path=path, head_id=head, utc_offset_minutes=s.utc_offset_minutes or DEFAULT_UTC_OFFSET_MINUTES,
            **slas))
        return pb.UpdateCommunitySettingsResponse(settings=convert.settings(saved))

    async def CreateDutyShift(self, request: pb.CreateDutyShiftRequest, context: Any) -> pb.CreateDutyShiftResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("duty_shift"):
            raise InvalidArgument.field("duty_shift", "is required")
        shift = request.duty_shift
        if bool(shift.date) == bool(shift.weekday):
            raise InvalidArgument.field("duty_shift.weekday", "set either weekday (1 Monday … 7 Sunday) or date")
        if shift.weekday and not 1 <= shift.weekday <= 7:
            raise InvalidArgument.field("duty_shift.weekday", "must be 1 (Monday) … 7 (Sunday)")
        on_date = parse_date("duty_shift.date", shift.date).isoformat() if shift.date else None
        start = parse_hhmm("duty_shift.start_time", shift.start_time)
        end = parse_hhmm("duty_shift.end_time", shift.end_time, allow_24=True)
        if end <= start:
            raise InvalidArgument.field("duty_shift.end_time", "must be after start_time (split overnight shifts)")
        new = NewShift(weekday=shift.weekday, on_date=on_date, start_minute=start, end_minute=end,
                       worker_id=workers.account_id("duty_shift.worker_id", shift.worker_id),
                       backup_id=workers.account_id("duty_shift.backup_id", shift.backup_id, required=False),
                       note=fields.text("duty_shift.note", shift.note, 500))
        staff(path)
        await self.places.require(path, field="parent")

        async def body(tx: AsyncSession) -> pb.CreateDutyShiftResponse:
            return pb.CreateDutyShiftResponse(duty_shift=convert.shift(
                await self.communities.create_shift(tx, path, new)))

        return await idempotency.once(self.db, self.clock, "CreateDutyShift", request, pb.CreateDutyShiftResponse,
                                      body)

    async def ListDutyShifts(self, request: pb.ListDutyShiftsRequest, context: Any) -> pb.ListDutyShiftsResponse:
        path = reach(parse_community("parent", request.parent))
        size = page_size(request.page_size)
        rows, next_token = await self.communities.shifts(path, page_token=request.page_token, size=size)
        return pb.ListDutyShiftsResponse(duty_shifts=[convert.shift(r) for r in rows], next_page_token=next_token)

    async def DeleteDutyShift(self, request: pb.DeleteDutyShiftRequest, context: Any) -> pb.DeleteDutyShiftResponse:
        path, ident = parse_child("name", request.name, DUTY_SHIFTS)
        staff(path)
        await self.communities.delete_shift(path, ident)
        return pb.DeleteDutyShiftResponse()

    async def CreateDutySwap(self, request: pb.CreateDutySwapRequest, context: Any) -> pb.CreateDutySwapResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("duty_swap"):
            raise InvalidArgument.field("duty_swap", "is required")
        swap = request.duty_swap
        on_date = parse_date("duty_swap.date", swap.date).isoformat()
        giver = workers.account_id("duty_swap.from_worker_id", swap.from_worker_id)
        taker = workers.account_id("duty_swap.to_worker_id", swap.to_worker_id)
        if giver == taker:
            raise InvalidArgument.field("duty_swap.to_worker_id", "must differ from from_worker_id")
        staff(path)
        await self.places.require(path, field="parent")

        async def body(tx: AsyncSession) -> pb.CreateDutySwapResponse:
            return pb.CreateDutySwapResponse(duty_swap=convert.swap(
                await self.communities.create_swap(tx, path, on_date, giver, taker)))

        return await idempotency.once(self.db, self.clock, "CreateDutySwap", request, pb.CreateDutySwapResponse, body)

    async def GetOnDuty(self, request: pb.GetOnDutyRequest, context: Any) -> pb.GetOnDutyResponse:
        path = reach(parse_community("parent", request.parent))
        when = as_utc(request.time.ToDatetime()) if request.HasField("time") else self.clock.now()
        settings, duty = await self.communities.on_duty(path, when)
        if duty is None:
            return pb.GetOnDutyResponse(head_id=settings.head_id)
        return pb.GetOnDutyResponse(worker_id=duty.worker_id, backup_id=duty.backup_id, head_id=settings.head_id,
                                    duty_shift=child_name(path, DUTY_SHIFTS, duty.shift_id))

    async def CreateProvider(self, request: pb.CreateProviderRequest, context: Any) -> pb.CreateProviderResponse:
        path = parse_community("parent", request.parent)
        if not request.HasField("provider"):
            raise InvalidArgument.field("provider", "is required")
        p = request.provider
        display = fields.text("provider.display_name", p.display_name, 200, required=True)
        category = fields.text("provider.category", p.category, 64, required=True)
        phone = fields.text("provider.phone", p.phone, 64)
        hours = []
        for i, h in enumerate(p.opening_hours):
            if not 1 <= h.weekday <= 7:
                raise InvalidArgument.field(f"provider.opening_hours[{i}].weekday", "must be 1 (Monday) … 7 (Sunday)")
            opens = parse_hhmm(f"provider.opening_hours[{i}].open_time", h.open_time)
            closes = parse_hhmm(f"provider.opening_hours[{i}].close_time", h.close_time, allow_24=True)
            if closes <= opens:
                raise InvalidArgument.field(f"provider.opening_hours[{i}].close_time", "must be after open_time")
            hours.append((h.weekday, opens, closes))
        staff(path)
        await self.places.require(path, field="parent")
        new = NewProvider(display_name=display, category=category, phone=phone, priority=p.priority,
                          opening_hours=hours)

        async def body(tx: AsyncSession) -> pb.CreateProviderResponse:
            return pb.CreateProviderResponse(provider=convert.provider(
                await self.communities.create_provider(tx, path, new)))

        return await idempotency.once(self.db, self.clock, "CreateProvider", request, pb.CreateProviderResponse, body)

    async def ListProviders(self, request: pb.ListProvidersRequest, context: Any) -> pb.ListProvidersResponse:
        path = reach(parse_community("parent", request.parent))
        size = page_size(request.page_size)
        rows, next_token = await self.communities.providers(path, request.category, page_token=request.page_token,
                                                            size=size)
        return pb.ListProvidersResponse(providers=[convert.provider(r) for r in rows], next_page_token=next_token)
