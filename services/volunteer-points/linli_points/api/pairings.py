"""linli.points.v1.PairingService: elders, family–elder pairings, visits and the monthly rule
(pairings.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import pairings_pb2 as pb
from linli.points.v1 import pairings_pb2_grpc
from linli_points.api.access import reader, reader_or_self, worker_or_self, writer
from linli_points.api.convert import compliance_pb, elder_pb, pairing_pb, visit_pb
from linli_points.pairings import MAX_VISITS_REQUIRED, Confirmation, Pairings, VisitFilter, VisitState, VisitType
from linli_points.people import People
from linli_runtime.auth import OPERATORS, STAFF, Role, caller, may_act_as, path_within
from linli_runtime.errors import InvalidArgument, PermissionDenied
from linli_runtime.fields import display_name, ident, text
from linli_runtime.names import org_path
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import as_utc, parse_date, parse_month

FULL_NAME = pb.DESCRIPTOR.services_by_name["PairingService"].full_name
NOT_THE_ELDER = ("only the elder visited (the account bound to the elder's record) or a community worker may "
                 "confirm or reject a visit")
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
        account = text("elder.account_id", e.account_id, 64)
        created = await self.pairings.create_elder(path, ident("elder.elder_id", e.elder_id),
                                                   display_name("elder.display_name", e.display_name), account)
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

    async def ListElders(
        self, request: pb.ListEldersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEldersResponse:
        account_id = text("account_id", request.account_id, 64)
        target = org_path("community_path", request.community_path)
        # An elder's grant is usually for their home, below the community: belonging there is
        # enough to find one's own record.
        who = caller()
        own = bool(account_id) and account_id == who.subject and any(
            g.covers(target) or path_within(g.scope, target) for g in who.grants)
        path = target if own else reader(target)
        found, next_token = await self.pairings.list_elders(path, page_token=request.page_token,
                                                            size=page_size(request.page_size), account_id=account_id)
        return pb.ListEldersResponse(elders=[elder_pb(e) for e in found], next_page_token=next_token)

    async def ListPairings(
        self, request: pb.ListPairingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPairingsResponse:
        family_id = ident("family_id", request.family_id) if request.family_id else ""
        path = await self._staff_or_family(request.community_path, family_id)
        found, elders, next_token = await self.pairings.list_pairings(
            path, page_token=request.page_token, size=page_size(request.page_size), family_id=family_id)
        return pb.ListPairingsResponse(pairings=[pairing_pb(p, elders.get(p.elder_id, "")) for p in found],
                                       next_page_token=next_token)

    async def _staff_or_family(self, raw_path: str, family_id: str) -> str:
        """Staff read every pairing; a volunteer those of their own family."""
        target = org_path("community_path", raw_path)
        who = caller()
        if family_id and may_act_as(who, STAFF, target) is None and \
                may_act_as(who, [Role.VOLUNTEER], target, exact=True) is not None:
            mine = await self.people.volunteer_of_account(target, who.subject)
            if mine is None or mine.family_id != family_id:
                raise PermissionDenied("a volunteer may list only their own family's pairings",
                                       reason="NOT_OWN_FAMILY", metadata={"family_id": family_id})
            return target
        return reader(target)

    async def ListVisits(
        self, request: pb.ListVisitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVisitsResponse:
        where = VisitFilter(
            state=self._state(request.state),
            pairing_id=ident("pairing_id", request.pairing_id) if request.pairing_id else "",
            volunteer_id=ident("volunteer_id", request.volunteer_id) if request.volunteer_id else "",
            elder_id=ident("elder_id", request.elder_id) if request.elder_id else "")
        path = await self._visit_reader(request.community_path, where)
        found, next_token = await self.pairings.list_visits(path, where, page_token=request.page_token,
                                                            size=page_size(request.page_size))
        return pb.ListVisitsResponse(visits=[visit_pb(v, elder_id) for v, elder_id in found],
                                     next_page_token=next_token)

    @staticmethod
    def _state(value: int) -> int:
        if value and value not in {int(s) for s in VisitState}:
            raise InvalidArgument.field("state", "must be PENDING, CONFIRMED or REJECTED (or unset: any)")
        return value

    async def _visit_reader(self, raw_path: str, where: VisitFilter) -> str:
        """Staff read every visit; a volunteer their own (`volunteer_id` theirs); an elder's bound
        account the visits to that elder (`elder_id` theirs)."""
        target = org_path("community_path", raw_path)
        who = caller()
        if may_act_as(who, STAFF, target) is not None:
            return target
        if where.volunteer_id:
            return await reader_or_self(self.people, target, where.volunteer_id)
        elder = await self.pairings.elder_of_account(target, who.subject) if where.elder_id else None
        if elder is not None and elder.elder_id == where.elder_id:
            return target
        if where.elder_id and (elder is not None or who.can_reach(target)):
            raise PermissionDenied("an elder may read only the visits to them (the elder bound to your account)",
                                   reason="NOT_SELF", metadata={"elder_id": where.elder_id})
        return reader(target)

    async def ConfirmVisit(
        self, request: pb.ConfirmVisitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmVisitResponse:
        path, visit_id = await self._decider(request.community_path, request.visit_id)
        decided = await self.pairings.decide_visit(path, visit_id, confirm=True, decided_by=caller().subject)
        return pb.ConfirmVisitResponse(visit=visit_pb(decided))

    async def RejectVisit(
        self, request: pb.RejectVisitRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectVisitResponse:
        path, visit_id = await self._decider(request.community_path, request.visit_id)
        reason = text("reason", request.reason, 500, required=True)
        decided = await self.pairings.decide_visit(path, visit_id, confirm=False, decided_by=caller().subject,
                                                   note=reason)
        return pb.RejectVisitResponse(visit=visit_pb(decided))

    async def _decider(self, raw_path: str, raw_visit_id: str) -> tuple[str, str]:
        """(community, visit id) when the caller may decide the visit: the community's operators
        or the elder's bound account (whatever their grants: the binding is the authority) —
        never the volunteer who made the visit."""
        target = org_path("community_path", raw_path)
        visit_id = ident("visit_id", raw_visit_id)
        who = caller()
        operator = may_act_as(who, OPERATORS, target) is not None
        me_elder = None if operator else await self.pairings.elder_of_account(target, who.subject)
        if not operator and me_elder is None:
            if not who.can_reach(target):
                writer(target)  # out of scope: refused as everywhere (OUT_OF_SCOPE)
            raise PermissionDenied(NOT_THE_ELDER, reason="NOT_THE_ELDER", metadata={"visit_id": visit_id})
        visit, elder = await self.pairings.visit_and_elder(target, visit_id)
        visitor = await self.people.volunteer_of_account(target, who.subject)
        if visitor is not None and visitor.volunteer_id == visit.volunteer_id:
            raise PermissionDenied("a volunteer cannot confirm or reject their own visit: the elder or a community "
                                   "worker does", reason="OWN_VISIT", metadata={"visit_id": visit_id})
        if me_elder is not None and me_elder.elder_id != elder.elder_id:
            raise PermissionDenied(NOT_THE_ELDER, reason="NOT_THE_ELDER", metadata={"visit_id": visit_id})
        return target, visit_id

    async def LogVisit(self, request: pb.LogVisitRequest, context: grpc.aio.ServicerContext) -> pb.LogVisitResponse:
        v = request.visit
        visit_id = ident("visit.visit_id", v.visit_id)
        pairing_id = ident("visit.pairing_id", v.pairing_id)
        volunteer_id = ident("visit.volunteer_id", v.volunteer_id)
        path = await worker_or_self(self.people, request.community_path, volunteer_id)
        if not v.HasField("visit_time"):
            raise InvalidArgument.field("visit.visit_time", "is required")
        if v.confirmation and v.confirmation not in {int(c) for c in Confirmation}:
            raise InvalidArgument.field("visit.confirmation", "must be ELDER, PROXY or unset")
        if v.visit_type not in {int(t) for t in VisitType}:
            raise InvalidArgument.field("visit.visit_type", f"say what the visit was for: one of {VISIT_TYPES}")
        logged = await self.pairings.log_visit(
            path, visit_id, pairing_id=pairing_id, volunteer_id=volunteer_id, when=as_utc(v.visit_time.ToDatetime()),
            confirmation=Confirmation(v.confirmation) if v.confirmation else None,
            note=text("visit.note", v.note, 500, strip=False),
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
