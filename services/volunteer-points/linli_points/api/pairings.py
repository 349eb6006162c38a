"""linli.points.v1.PairingService: elders, family–elder pairings, visits and the monthly rule."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.points.v1 import pairings_pb2 as pb
from linli.points.v1 import pairings_pb2_grpc
from linli_points.api.common import (
    community,
    decode_token,
    display_name,
    encode_token,
    ident,
    page_size,
    parse_date,
    parse_month,
    require_reader,
    require_worker_or_self,
    require_writer,
    text,
    timestamp,
)
from linli_points.ledger.store import EventFactory, utc
from linli_points.periods import local, month_bounds, month_of
from linli_points.records import create_once, exists
from linli_points.schema import elders, families, month_closes, pairings, visits, volunteers
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import fingerprint, run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["PairingService"].full_name
DEFAULT_VISITS_REQUIRED = 2  # DOMAIN.md: at least two visits a month per pairing


def pairing_pb(row: Any) -> pb.Pairing:
    return pb.Pairing(community_path=row.community_path, pairing_id=row.pairing_id, family_id=row.family_id,
                      elder_id=row.elder_id, start_date=row.start_date.isoformat(),
                      visits_required=row.visits_required)


def visit_pb(row: Any) -> pb.Visit:
    return pb.Visit(pairing_id=row.pairing_id, visit_id=row.visit_id, visit_time=timestamp(utc(row.visit_time)),
                    volunteer_id=row.volunteer_id,
                    confirmation=cast(pb.VisitConfirmation.ValueType, row.confirmation), note=row.note)


async def create_elder(conn: AsyncConnection, path: str, elder_id: str, name: str) -> Any:
    row, _ = await create_once(conn, elders, {"community_path": path, "elder_id": elder_id},
                               {"display_name": name}, fingerprint(name), "elder")
    return row


async def create_pairing(conn: AsyncConnection, path: str, pairing_id: str, family_id: str, elder_id: str,
                         start: date, required: int) -> Any:
    if not await exists(conn, families, community_path=path, family_id=family_id):
        raise NotFound(f"family {family_id!r} does not exist in {path}", reason="FAMILY_NOT_FOUND")
    if not await exists(conn, elders, community_path=path, elder_id=elder_id):
        raise NotFound(f"elder {elder_id!r} does not exist in {path}", reason="ELDER_NOT_FOUND")
    row, _ = await create_once(
        conn, pairings, {"community_path": path, "pairing_id": pairing_id},
        {"family_id": family_id, "elder_id": elder_id, "start_date": start, "visits_required": required},
        fingerprint(family_id, elder_id, start, required), "pairing")
    return row


async def compliance(conn: AsyncConnection, path: str, month: str) -> list[tuple[Any, int]]:
    """Every pairing active in `month` with its visits in it, shortest first."""
    _, end = month_bounds(month)
    last_day = local(end - timedelta(microseconds=1)).date()
    done = (
        sa.select(sa.func.count()).where(visits.c.community_path == pairings.c.community_path,
                                         visits.c.pairing_id == pairings.c.pairing_id, visits.c.month == month)
        .scalar_subquery()
    )
    rows = (await conn.execute(
        sa.select(pairings, done.label("done"))
        .where(pairings.c.community_path == path, pairings.c.start_date <= last_day)
        .order_by(done, pairings.c.pairing_id)
    )).all()
    return [(row, int(row.done)) for row in rows]


class PairingServicer(pairings_pb2_grpc.PairingServiceServicer):
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event

    async def CreateElder(
        self, request: pb.CreateElderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateElderResponse:
        e = request.elder
        path = community(e.community_path, "elder.community_path")
        require_writer()
        elder_id = ident("elder.elder_id", e.elder_id)
        name = display_name("elder.display_name", e.display_name)
        row = await run_in_transaction(self.db, lambda conn: create_elder(conn, path, elder_id, name))
        return pb.CreateElderResponse(elder=pb.Elder(community_path=path, elder_id=row.elder_id,
                                                     display_name=row.display_name))

    async def CreatePairing(
        self, request: pb.CreatePairingRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatePairingResponse:
        p = request.pairing
        path = community(p.community_path, "pairing.community_path")
        require_writer()
        pairing_id = ident("pairing.pairing_id", p.pairing_id)
        family_id = ident("pairing.family_id", p.family_id)
        elder_id = ident("pairing.elder_id", p.elder_id)
        start = parse_date("pairing.start_date", p.start_date)
        if not 0 <= p.visits_required <= 31:
            raise InvalidArgument.field("pairing.visits_required", "must be between 0 (the default, 2) and 31")
        required = p.visits_required or DEFAULT_VISITS_REQUIRED
        row = await run_in_transaction(
            self.db, lambda conn: create_pairing(conn, path, pairing_id, family_id, elder_id, start, required))
        return pb.CreatePairingResponse(pairing=pairing_pb(row))

    async def ListPairings(
        self, request: pb.ListPairingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPairingsResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(pairings).where(pairings.c.community_path == path),
                pairings.c.pairing_id, kind="pairings", page_token=request.page_token, size=size)
        return pb.ListPairingsResponse(pairings=[pairing_pb(r) for r in rows], next_page_token=next_token)

    async def LogVisit(self, request: pb.LogVisitRequest, context: grpc.aio.ServicerContext) -> pb.LogVisitResponse:
        path = community(request.community_path)
        v = request.visit
        visit_id = ident("visit.visit_id", v.visit_id)
        pairing_id = ident("visit.pairing_id", v.pairing_id)
        volunteer_id = ident("visit.volunteer_id", v.volunteer_id)
        require_worker_or_self(volunteer_id)
        if not v.HasField("visit_time"):
            raise InvalidArgument.field("visit.visit_time", "is required")
        when = utc(v.visit_time.ToDatetime())
        if when > self.clock.now() + timedelta(hours=1):
            raise InvalidArgument.field("visit.visit_time", "must not be in the future")
        if v.confirmation not in (pb.VISIT_CONFIRMATION_ELDER, pb.VISIT_CONFIRMATION_PROXY):
            raise InvalidArgument.field("visit.confirmation", "must say who confirmed the visit: ELDER or PROXY")
        note = text("visit.note", v.note, 500)
        month = month_of(when)

        async def work(conn: AsyncConnection) -> Any:
            pairing = (await conn.execute(sa.select(pairings).where(
                pairings.c.community_path == path, pairings.c.pairing_id == pairing_id))).first()
            if pairing is None:
                raise NotFound(f"pairing {pairing_id!r} does not exist in {path}", reason="PAIRING_NOT_FOUND")
            volunteer = (await conn.execute(sa.select(volunteers).where(
                volunteers.c.community_path == path, volunteers.c.volunteer_id == volunteer_id))).first()
            if volunteer is None:
                raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
            if volunteer.family_id != pairing.family_id:
                raise FailedPrecondition(f"volunteer {volunteer_id!r} is not in family {pairing.family_id!r}",
                                         reason="NOT_IN_FAMILY")
            row, created = await create_once(
                conn, visits, {"community_path": path, "visit_id": visit_id},
                {"pairing_id": pairing_id, "month": month, "visit_time": when, "volunteer_id": volunteer_id,
                 "confirmation": v.confirmation, "note": note},
                fingerprint(pairing_id, when.isoformat(), volunteer_id, v.confirmation, note), "visit")
            if created:
                count = (await conn.execute(sa.select(sa.func.count()).select_from(visits).where(
                    visits.c.community_path == path, visits.c.pairing_id == pairing_id,
                    visits.c.month == month))).scalar_one()
                await publish_in(conn, self.make_event("points.visit.logged", events.VisitLogged(
                    pairing=f"{path}/pairings/{pairing_id}", community_path=path, family_id=pairing.family_id,
                    elder_id=pairing.elder_id, volunteer_id=volunteer_id, visit_id=visit_id, month=month,
                    visits_this_month=count), path))
            return row

        return pb.LogVisitResponse(visit=visit_pb(await run_in_transaction(self.db, work)))

    async def ListPairingCompliance(
        self, request: pb.ListPairingComplianceRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPairingComplianceResponse:
        path = community(request.community_path)
        require_reader()
        month = parse_month("month", request.month)
        size = page_size(request.page_size)
        offset = decode_token("compliance", request.page_token)
        async with self.db.engine.connect() as conn:
            found = await compliance(conn, path, month)
        if request.only_short:
            found = [(row, done) for row, done in found if done < row.visits_required]
        page = found[offset:offset + size]
        more = offset + size < len(found)
        return pb.ListPairingComplianceResponse(
            pairings=[pb.PairingCompliance(pairing=pairing_pb(row), visits_done=done,
                                           short=done < row.visits_required) for row, done in page],
            next_page_token=encode_token("compliance", offset + size) if more else "",
        )

    async def CloseMonth(
        self, request: pb.CloseMonthRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseMonthResponse:
        path = community(request.community_path)
        require_writer()
        month = parse_month("month", request.month)
        if self.clock.now() < month_bounds(month)[1]:
            raise FailedPrecondition(f"{month} has not ended yet", reason="MONTH_NOT_OVER")

        async def work(conn: AsyncConnection) -> pb.CloseMonthResponse:
            done = (await conn.execute(sa.select(month_closes).where(
                month_closes.c.community_path == path, month_closes.c.month == month))).first()
            if done is not None:
                return pb.CloseMonthResponse(pairings_evaluated=done.evaluated, pairings_lapsed=done.lapsed,
                                             newly_closed=False)
            found = await compliance(conn, path, month)
            short = [(row, n) for row, n in found if n < row.visits_required]
            names = await self._names(conn, path, short)
            for row, n in short:
                await publish_in(conn, self.make_event("points.pairing.lapsed", events.PairingLapsed(
                    pairing=f"{path}/pairings/{row.pairing_id}", community_path=path, family_id=row.family_id,
                    family_name=names.get(("f", row.family_id), ""), elder_id=row.elder_id,
                    elder_name=names.get(("e", row.elder_id), ""), month=month, visits_done=n,
                    visits_required=row.visits_required), path))
            # The close row's primary key makes a concurrent second close fail and retry as a replay.
            await conn.execute(month_closes.insert().values(community_path=path, month=month, evaluated=len(found),
                                                            lapsed=len(short), closed_at=self.clock.now()))
            return pb.CloseMonthResponse(pairings_evaluated=len(found), pairings_lapsed=len(short), newly_closed=True)

        return await run_in_transaction(self.db, work)

    @staticmethod
    async def _names(conn: AsyncConnection, path: str, rows: list[tuple[Any, int]]) -> dict[tuple[str, str], str]:
        family_ids = {row.family_id for row, _ in rows}
        elder_ids = {row.elder_id for row, _ in rows}
        names: dict[tuple[str, str], str] = {}
        if family_ids:
            for fid, name in await conn.execute(sa.select(families.c.family_id, families.c.display_name).where(
                    families.c.community_path == path, families.c.family_id.in_(family_ids))):
                names[("f", fid)] = name
        if elder_ids:
            for eid, name in await conn.execute(sa.select(elders.c.elder_id, elders.c.display_name).where(
                    elders.c.community_path == path, elders.c.elder_id.in_(elder_ids))):
                names[("e", eid)] = name
        return names
