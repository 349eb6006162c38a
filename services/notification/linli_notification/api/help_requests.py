"""linli.notification.v1.HelpRequestService: intake, reading, the lifecycle, SLA figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification import sla_stats
from linli_notification.api import convert
from linli_notification.api.access import (
    HELP_READERS,
    follows,
    handles,
    is_staff,
    of_household,
    require_staff_or_filer,
    staff,
)
from linli_notification.helpdesk import (
    CATEGORIES,
    THANKS_KINDS,
    CommunityScope,
    HelpDesk,
    HelpRequestRecord,
    NewHelpRequest,
    NewThanks,
)
from linli_notification.names import HELP_REQUESTS, parse_child, parse_community, parse_follow_up, valid_id
from linli_runtime import fields, idempotency
from linli_runtime.auth import Principal, Role, allows, authorized_path, caller, path_within, reach, scopes_for
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, PermissionDenied
from linli_runtime.names import org_path
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size

R = TypeVar("R", bound=Message)
THANKS_PAGE = 20
MAX_THANKS_PAGE = 100
# A compound is the fifth level of the org tree (city/district/street/community/compound).
COMPOUND_DEPTH = 5


def compound_of(household_path: str) -> str:
    """The compound a household lies in ("" for a path too short to be a household)."""
    parts = household_path.split("/")
    return "/".join(parts[:COMPOUND_DEPTH]) if len(parts) > COMPOUND_DEPTH else ""
Step = Callable[[AsyncSession, str, str, Principal], Awaitable[HelpRequestRecord]]


def _communities(parent: str) -> CommunityScope:
    """The communities a list's parent names, where the caller may read help requests
    (HELP_READERS). `communities/-` (AIP-159) means every community within the caller's grants
    of those roles (a street officer or city operator watching many, a person with grants at
    several places)."""
    if parent == "communities/-":
        scopes = scopes_for(*HELP_READERS)
        if not scopes:
            raise PermissionDenied("you hold no grant that lets you read help requests anywhere (it takes one of: "
                                   f"{', '.join(sorted(map(str, HELP_READERS)))})", reason="ROLE_NOT_ALLOWED")
        return CommunityScope.within(scopes)
    return CommunityScope(authorized_path(*HELP_READERS, path=parse_community("parent", parent)))


class HelpRequestServicer(pb_grpc.HelpRequestServiceServicer):
    def __init__(self, desk: HelpDesk, db: Database, clock: Clock, places: KnownUnits) -> None:
        self.desk = desk
        self.db = db  # for AIP-155 request ids (linli_runtime.idempotency)
        self.clock = clock
        self.places = places

    # -- intake and reading ------------------------------------------------------------------

    async def CreateHelpRequest(self, request: pb.CreateHelpRequestRequest,
                                context: Any) -> pb.CreateHelpRequestResponse:
        community_path = parse_community("parent", request.parent)
        if not request.HasField("help_request"):
            raise InvalidArgument.field("help_request", "is required")
        given = request.help_request
        if given.category not in CATEGORIES:
            raise InvalidArgument.field("help_request.category", f"must be one of {', '.join(CATEGORIES)}")
        if given.reporter_role not in pb.ReporterRole.values() or given.reporter_role == pb.REPORTER_ROLE_UNSPECIFIED:
            raise InvalidArgument.field("help_request.reporter_role",
                                        "say who reports it: resident, neighbour, canteen staff or worker")
        if given.urgency not in pb.Urgency.values():
            raise InvalidArgument.field("help_request.urgency", "is not a known urgency")
        description = fields.text("help_request.description", given.description, 2000, required=True)
        contact = fields.text("help_request.contact", given.contact, 200)
        on_behalf_of = fields.text("help_request.on_behalf_of", given.on_behalf_of, 200)
        if given.reporter_id:
            valid_id("help_request.reporter_id", given.reporter_id)
        compound_path = ""
        if given.compound_path:
            compound_path = org_path("help_request.compound_path", given.compound_path)
            if not path_within(compound_path, community_path) or compound_path == community_path:
                raise InvalidArgument.field("help_request.compound_path", f"must lie within {community_path}")
        household_path = ""
        if given.household_path:
            household_path = org_path("help_request.household_path", given.household_path)
            compound_path = compound_path or compound_of(household_path)
            if not compound_path or not path_within(compound_path, community_path) or \
                    not household_path.startswith(compound_path + "/"):
                raise InvalidArgument.field("help_request.household_path",
                                            f"must be a household of {compound_path or community_path}")
        who = caller()
        # Anyone who belongs to the community may ask for help there; residents and canteen
        # staff may hold a grant for their compound only, a household's people (owner, family,
        # tenant) one for their household only.
        if not ((compound_path and who.can_reach(compound_path)) or of_household(who, household_path)):
            reach(community_path, who)
        await self.places.require(compound_path or community_path,
                                  field="help_request.compound_path" if compound_path else "parent")
        new = NewHelpRequest(category=given.category, urgency=given.urgency or pb.URGENCY_NORMAL,
                             reporter_role=given.reporter_role, description=description, reporter_id=given.reporter_id,
                             compound_path=compound_path, on_behalf_of=on_behalf_of, contact=contact,
                             household_path=household_path)

        async def body(tx: AsyncSession) -> pb.CreateHelpRequestResponse:
            record = await self.desk.create(tx, community_path, new, who.subject)
            return pb.CreateHelpRequestResponse(help_request=convert.help_request_record(record))

        return await idempotency.once(self.db, self.clock, "CreateHelpRequest", request,
                                      pb.CreateHelpRequestResponse, body)

    async def GetHelpRequest(self, request: pb.GetHelpRequestRequest, context: Any) -> pb.GetHelpRequestResponse:
        path, request_id = parse_child("name", request.name, HELP_REQUESTS)
        who = caller()
        # Whoever filed a request may follow it, even with a token for their compound only; so may
        # the people of the household it is about — the contact details included. Else the
        # community's readers, the contact details for its handlers.
        follower = follows(who, await self.desk.filing(path, request_id))
        if not follower:
            authorized_path(*HELP_READERS, path=path, principal=who)
        record = await self.desk.get(path, request_id)
        return pb.GetHelpRequestResponse(help_request=convert.help_request_record(
            record, with_contact=follower or handles(who, path)))

    async def ListHelpRequests(self, request: pb.ListHelpRequestsRequest,
                               context: Any) -> pb.ListHelpRequestsResponse:
        size = page_size(request.page_size)
        if request.status not in pb.Status.values():
            raise InvalidArgument.field("status", "is not a known status")
        if request.assignee_id:
            valid_id("assignee_id", request.assignee_id)
        household = ""
        if request.household_path:
            household = org_path("household_path", request.household_path)
            community = parse_community("parent", request.parent)
            if not household.startswith(community + "/"):
                raise InvalidArgument.field("household_path", f"must be a household of {community}")
            # A household's people list the requests about it; the community's readers too.
            mine = of_household(caller(), household)
            scope = CommunityScope(community if mine else authorized_path(*HELP_READERS, path=community))
        else:
            mine, scope = False, _communities(request.parent)
        rows, next_token = await self.desk.list(scope, status=request.status, assignee_id=request.assignee_id,
                                                page_token=request.page_token, size=size, household_path=household)
        who = caller()
        return pb.ListHelpRequestsResponse(
            help_requests=[convert.help_request(r, with_contact=mine or handles(who, r.community_path)) for r in rows],
            next_page_token=next_token)

    async def SummarizeHelpRequests(self, request: pb.SummarizeHelpRequestsRequest,
                                    context: Any) -> pb.SummarizeHelpRequestsResponse:
        scope = _communities(request.parent)
        start = request.start_time.ToDatetime(tzinfo=UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(tzinfo=UTC) if request.HasField("end_time") else None
        if start is not None and end is not None and end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        found = await sla_stats.summarize(self.db, scope, start=start, end=end, now=self.clock.now())
        return pb.SummarizeHelpRequestsResponse(stats=[convert.stats(s) for s in found])

    # -- lifecycle ---------------------------------------------------------------------------

    async def _change(self, method: str, request: Message, response_cls: type[R], name: str, step: Step, *,
                      authorised: Principal | None = None, follower: bool = False) -> R:
        """Run `step` on the named request in the AIP-155 transaction, answering with the request.
        Community staff at its community only, unless the caller was `authorised` already; the
        contact details for its handlers and a `follower` (the filer, the household's people)."""
        path, request_id = parse_child("name", name, HELP_REQUESTS)
        who = authorised or caller()
        if authorised is None:
            staff(path)
        with_contact = follower or handles(who, path)

        async def body(tx: AsyncSession) -> R:
            record = await step(tx, path, request_id, who)
            return response_cls(help_request=convert.help_request_record(record, with_contact=with_contact))

        return await idempotency.once(self.db, self.clock, method, request, response_cls, body)

    async def AcknowledgeHelpRequest(self, request: pb.AcknowledgeHelpRequestRequest,
                                     context: Any) -> pb.AcknowledgeHelpRequestResponse:
        return await self._change(
            "AcknowledgeHelpRequest", request, pb.AcknowledgeHelpRequestResponse, request.name,
            lambda tx, path, rid, who: self.desk.acknowledge(tx, path, rid, who.subject))

    async def StartHelpRequest(self, request: pb.StartHelpRequestRequest,
                               context: Any) -> pb.StartHelpRequestResponse:
        note = fields.text("note", request.note, 1000)
        return await self._change(
            "StartHelpRequest", request, pb.StartHelpRequestResponse, request.name,
            lambda tx, path, rid, who: self.desk.start(tx, path, rid, who.subject, note))

    async def ResolveHelpRequest(self, request: pb.ResolveHelpRequestRequest,
                                 context: Any) -> pb.ResolveHelpRequestResponse:
        resolution = fields.text("resolution", request.resolution, 2000, required=True)
        helpers = [valid_id("helper_ids", h) for h in request.helper_ids]
        return await self._change(
            "ResolveHelpRequest", request, pb.ResolveHelpRequestResponse, request.name,
            lambda tx, path, rid, who: self.desk.resolve(tx, path, rid, who.subject, resolution, helpers))

    async def RecordFollowUp(self, request: pb.RecordFollowUpRequest, context: Any) -> pb.RecordFollowUpResponse:
        _path, _request_id, number = parse_follow_up("name", request.name)
        note = fields.text("note", request.note, 1000, required=True)
        early_reason = fields.text("early_reason", request.early_reason, 1000)
        return await self._change(
            "RecordFollowUp", request, pb.RecordFollowUpResponse, request.name.rsplit("/followUps/", 1)[0],
            lambda tx, path, rid, who: self.desk.record_follow_up(tx, path, rid, number, who.subject, note,
                                                                 early_reason))

    async def CloseHelpRequest(self, request: pb.CloseHelpRequestRequest,
                               context: Any) -> pb.CloseHelpRequestResponse:
        note = fields.text("note", request.note, 1000)
        return await self._change(
            "CloseHelpRequest", request, pb.CloseHelpRequestResponse, request.name,
            lambda tx, path, rid, who: self.desk.close(tx, path, rid, who.subject, note))

    async def CancelHelpRequest(self, request: pb.CancelHelpRequestRequest,
                                context: Any) -> pb.CancelHelpRequestResponse:
        reason = fields.text("reason", request.reason, 1000, required=True)
        path, request_id = parse_child("name", request.name, HELP_REQUESTS)
        who = caller()
        # Staff may cancel; so may whoever filed it, even with a token for their compound only.
        filing = await self.desk.filing(path, request_id)
        require_staff_or_filer(who, path, request_id, filing, "cancel")
        return await self._change(
            "CancelHelpRequest", request, pb.CancelHelpRequestResponse, request.name,
            lambda tx, path, rid, who: self.desk.cancel(tx, path, rid, who.subject, reason), authorised=who,
            follower=follows(who, filing))

    async def RecordThanks(self, request: pb.RecordThanksRequest, context: Any) -> pb.RecordThanksResponse:
        if not request.HasField("thanks"):
            raise InvalidArgument.field("thanks", "is required")
        given = request.thanks
        if given.kind not in THANKS_KINDS:
            raise InvalidArgument.field("thanks.kind", "must be 'banner' or 'message'")
        fields.text("thanks.text", given.text, 1000, required=True)
        fields.text("thanks.from", getattr(given, "from"), 200)
        for person in given.recipient_ids:
            valid_id("thanks.recipient_ids", person)
        # Stored as given (the checks above look at the trimmed text, as they always have).
        thanks = NewThanks(kind=given.kind, text=given.text, from_name=getattr(given, "from"),
                           recipient_ids=list(given.recipient_ids))
        path, request_id = parse_child("name", request.name, HELP_REQUESTS)
        who = caller()
        # Staff record the thanks they were given (a banner brought in); the person helped thanks
        # the helpers themselves: whoever filed the request, or the people of its household.
        filing = await self.desk.filing(path, request_id)
        follower = follows(who, filing)
        if not (is_staff(who, path) or follower):
            require_staff_or_filer(who, path, request_id, filing, "thank for")  # says why not
        return await self._change(
            "RecordThanks", request, pb.RecordThanksResponse, request.name,
            lambda tx, path, rid, who: self.desk.record_thanks(tx, path, rid, who.subject, thanks), authorised=who,
            follower=follower)

    @allows(Role.PORTAL)  # the community's public page shows its thanks
    async def ListCommunityThanks(self, request: pb.ListCommunityThanksRequest,
                                  context: Any) -> pb.ListCommunityThanksResponse:
        community = reach(parse_community("parent", request.parent))
        size = page_size(request.page_size, default=THANKS_PAGE, maximum=MAX_THANKS_PAGE)
        found, next_token = await self.desk.community_thanks(community, page_token=request.page_token, size=size)
        return pb.ListCommunityThanksResponse(thanks=[convert.community_thanks(t, category) for t, category in found],
                                              next_page_token=next_token)
