"""linli.points.v1.PairingService: elders, family–elder pairings, visits and the monthly rule
(pairings.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import pairings_pb2 as pb
from linli.points.v1 import pairings_pb2_grpc
from linli_points.api.access import reader, worker_or_self, writer
from linli_points.api.convert import compliance_pb, elder_pb, pairing_pb, visit_pb
from linli_points.pairings import MAX_VISITS_REQUIRED, Confirmation, Pairings, VisitType
from linli_points.people import People
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import display_name, ident, text
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import as_utc, parse_date, parse_month

FULL_NAME = pb.DESCRIPTOR.services_by_name["PairingService"].full_name
VISIT_TYPES = ", ".join(f"VISIT_TYPE_{t.name}" for t in VisitType)


class PairingServicer(pairings_pb2_grpc.PairingServiceServicer):
    def __init__(self, pairings: Pairings, people: People, places: KnownUnits) -> None:
        self.pairings = pairings
        self.people = people
        self.places = places

    async def CreateElder(
        self, request: pb.CreateElderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateElderResponse:
        e = request.elder
        path = writer(e.community_path, "elder.community_path")
        await self.places.require(path, field="elder.community_path")
        created = await self.pairings.create_elder(path, ident("elder.elder_id", e.elder_id),
                                                   display_name("elder.display_name", e.display_name))
        return pb.CreateElderResponse(elder=elder_pb(created))

    async def CreatePairing(
        self, request: pb.CreatePairingRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatePairingResponse:
        p = request.pairing
        path = writer(p.community_path, "pairing.community_path")
        await self.places.require(path, field="pairing.community_path")
        pairing_id = ident("pairing.pairing_id", p.pairing_id)
        family_id = ident("pairing.family_id", p.family_id)
        elder_id = ident("pairing.elder_id", p.elder_id)
        start = parse_date("pairing.start_date", p.start_date)
        if not 0 <= p.visits_required <= MAX_VISITS_REQUIRED:
            raise InvalidArgument.field("pairing.visits_required",
                                        f"must be between 0 (the default, 2) and {MAX_VISITS_REQUIRED}")
        created = await self.pairings.create_pairing(path, pairing_id, family_id=family_id, elder_id=elder_id,
                                                     start=start, required=p.visits_required)
        return pb.CreatePairingResponse(pairing=pairing_pb(created))

    async def ListPairings(
        self, request: pb.ListPairingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPairingsResponse:
        path = reader(request.community_path)
        found, next_token = await self.pairings.list_pairings(path, page_token=request.page_token,
                                                              size=page_size(request.page_size))
        return pb.ListPairingsResponse(pairings=[pairing_pb(p) for p in found], next_page_token=next_token)

    async def LogVisit(self, request: pb.LogVisitRequest, context: grpc.aio.ServicerContext) -> pb.LogVisitResponse:
        v = request.visit
        visit_id = ident("visit.visit_id", v.visit_id)
        pairing_id = ident("visit.pairing_id", v.pairing_id)
        volunteer_id = ident("visit.volunteer_id", v.volunteer_id)
        path = await worker_or_self(self.people, request.community_path, volunteer_id)
        if not v.HasField("visit_time"):
            raise InvalidArgument.field("visit.visit_time", "is required")
        if v.confirmation not in (pb.VISIT_CONFIRMATION_ELDER, pb.VISIT_CONFIRMATION_PROXY):
            raise InvalidArgument.field("visit.confirmation", "must say who confirmed the visit: ELDER or PROXY")
        if v.visit_type not in {int(t) for t in VisitType}:
            raise InvalidArgument.field("visit.visit_type", f"say what the visit was for: one of {VISIT_TYPES}")
        logged = await self.pairings.log_visit(
            path, visit_id, pairing_id=pairing_id, volunteer_id=volunteer_id, when=as_utc(v.visit_time.ToDatetime()),
            confirmation=Confirmation(v.confirmation), note=text("visit.note", v.note, 500, strip=False),
            visit_type=VisitType(v.visit_type))
        return pb.LogVisitResponse(visit=visit_pb(logged))

    async def ListPairingCompliance(
        self, request: pb.ListPairingComplianceRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPairingComplianceResponse:
        path = reader(request.community_path)
        month = parse_month("month", request.month)
        found, next_token = await self.pairings.compliance_page(
            path, month, only_short=request.only_short, page_token=request.page_token,
            size=page_size(request.page_size))
        return pb.ListPairingComplianceResponse(pairings=[compliance_pb(c) for c in found],
                                                next_page_token=next_token)

    async def CloseMonth(
        self, request: pb.CloseMonthRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseMonthResponse:
        path = writer(request.community_path)
        closed = await self.pairings.close_month(path, parse_month("month", request.month))
        return pb.CloseMonthResponse(pairings_evaluated=closed.pairings_evaluated,
                                     pairings_lapsed=closed.pairings_lapsed, newly_closed=closed.newly_closed)
