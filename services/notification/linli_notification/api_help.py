"""linli.notification.v1.HelpRequestService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification import helpdesk, sla_stats
from linli_notification.api_common import (
    is_staff,
    once,
    page_size,
    require_staff,
    text_field,
)
from linli_notification.names import parse_child, parse_community, parse_follow_up, valid_id
from linli_notification.tables import help_request
from linli_runtime.auth import caller, normalize_path, path_within, require_scope
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, NotFound, PermissionDenied
from linli_runtime.paging import keyset_page

CATEGORIES = ("meal", "medical", "repair", "companionship", "errand", "other")
THANKS_KINDS = ("banner", "message")



def _communities(parent: str) -> tuple[str, sa.ColumnElement[bool]]:
    """The scope path and row filter of a list's parent. `communities/-` (AIP-159) means every
    community within the caller's scope (a street officer or city operator watching many)."""
    if parent == "communities/-":
        path = caller().scope
        within = sa.or_(help_request.c.community_path == path,
                        help_request.c.community_path.startswith(path + "/", autoescape=True))
        return path, within if path else sa.true()
    path = require_scope(parse_community("parent", parent))
    return path, help_request.c.community_path == path

class HelpRequestServicer(pb_grpc.HelpRequestServiceServicer):
    def __init__(self, app: helpdesk.EventMaker, db: Database) -> None:
        self.app = app
        self.db = db

    # -- intake and reading ------------------------------------------------------------------

    async def CreateHelpRequest(self, request: pb.CreateHelpRequestRequest,
                                context: grpc.aio.ServicerContext) -> pb.CreateHelpRequestResponse:
        community_path = parse_community("parent", request.parent)
        if not request.HasField("help_request"):
            raise InvalidArgument.field("help_request", "is required")
        fields = pb.HelpRequest()
        fields.CopyFrom(request.help_request)
        if fields.category not in CATEGORIES:
            raise InvalidArgument.field("help_request.category", f"must be one of {', '.join(CATEGORIES)}")
        if fields.reporter_role not in pb.ReporterRole.values() or fields.reporter_role == pb.REPORTER_ROLE_UNSPECIFIED:
            raise InvalidArgument.field("help_request.reporter_role",
                                        "say who reports it: resident, neighbour, canteen staff or worker")
        if fields.urgency not in pb.Urgency.values():
            raise InvalidArgument.field("help_request.urgency", "is not a known urgency")
        fields.urgency = fields.urgency or pb.URGENCY_NORMAL
        fields.description = text_field("help_request.description", fields.description, required=True)
        fields.contact = text_field("help_request.contact", fields.contact, limit=200)
        fields.on_behalf_of = text_field("help_request.on_behalf_of", fields.on_behalf_of, limit=200)
        if fields.reporter_id:
            valid_id("help_request.reporter_id", fields.reporter_id)
        if fields.compound_path:
            try:
                fields.compound_path = normalize_path(fields.compound_path)
            except InvalidArgument:
                raise InvalidArgument.field("help_request.compound_path", "is not an org path") from None
            if not path_within(fields.compound_path, community_path) or fields.compound_path == community_path:
                raise InvalidArgument.field("help_request.compound_path", f"must lie within {community_path}")
        who = caller()
        # Residents and canteen staff may hold a token for their compound only.
        if not (who.can_reach(community_path) or (fields.compound_path and who.can_reach(fields.compound_path))):
            require_scope(community_path, who)

        async def run(conn: AsyncConnection) -> pb.CreateHelpRequestResponse:
            request_id = await helpdesk.create(self.app, conn, community_path, fields, who.subject)
            return pb.CreateHelpRequestResponse(help_request=await helpdesk.load(conn, request_id))

        return await once(self.db, self.app.clock, "CreateHelpRequest", request, pb.CreateHelpRequestResponse, run)

    async def GetHelpRequest(self, request: pb.GetHelpRequestRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetHelpRequestResponse:
        path, request_id = parse_child("name", request.name, "helpRequests")
        who = caller()
        async with self.db.transaction() as session:
            conn = await session.connection()
            if not who.can_reach(path):
                # Whoever filed a request may follow it, even with a token for their compound only.
                reporter = (await conn.execute(sa.select(help_request.c.reporter_id).where(
                    help_request.c.id == request_id, help_request.c.community_path == path))).scalar()
                if reporter is None or reporter != who.subject:
                    require_scope(path, who)
            await self._in_community(conn, path, request_id)
            return pb.GetHelpRequestResponse(help_request=await helpdesk.load(conn, request_id))

    async def ListHelpRequests(self, request: pb.ListHelpRequestsRequest,
                               context: grpc.aio.ServicerContext) -> pb.ListHelpRequestsResponse:
        path, where = _communities(request.parent)
        size = page_size(request.page_size)
        if request.status not in pb.Status.values():
            raise InvalidArgument.field("status", "is not a known status")
        if request.assignee_id:
            valid_id("assignee_id", request.assignee_id)
        scope = f"help|{request.parent}|{path}|{request.status}|{request.assignee_id}"
        query = sa.select(help_request).where(where)
        if request.status:
            query = query.where(help_request.c.status == request.status)
        if request.assignee_id:
            query = query.where(help_request.c.assignee_id == request.assignee_id)
        async with self.db.session() as session:
            rows, next_token = await keyset_page(await session.connection(), query, help_request.c.seq, kind=scope,
                                                 page_token=request.page_token, size=size, newest_first=True)
        return pb.ListHelpRequestsResponse(help_requests=[helpdesk.to_proto(r) for r in rows],
                                           next_page_token=next_token)

    async def SummarizeHelpRequests(self, request: pb.SummarizeHelpRequestsRequest,
                                    context: grpc.aio.ServicerContext) -> pb.SummarizeHelpRequestsResponse:
        _, where = _communities(request.parent)
        start = request.start_time.ToDatetime(tzinfo=UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(tzinfo=UTC) if request.HasField("end_time") else None
        if start is not None and end is not None and end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        async with self.db.transaction() as session:
            conn = await session.connection()
            stats = await sla_stats.summarize(conn, where, start=start, end=end, now=self.app.clock.now())
        return pb.SummarizeHelpRequestsResponse(stats=stats)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _in_community(self, conn: AsyncConnection, path: str, request_id: str) -> None:
        found = (await conn.execute(sa.select(help_request.c.community_path).where(
            help_request.c.id == request_id))).first()
        if found is None or found.community_path != path:
            raise NotFound(f"help request {request_id!r} does not exist in {path}", reason="HELP_REQUEST_NOT_FOUND")

    async def _change(self, method: str, request, response_cls,  # type: ignore[no-untyped-def]
                      step: Callable[[AsyncConnection, str, str], Awaitable[None]], name: str | None = None,
                      staff: bool = True):
        path, request_id = parse_child("name", name or request.name, "helpRequests")
        who = require_staff() if staff else caller()
        require_scope(path, who)

        async def run(conn: AsyncConnection):  # type: ignore[no-untyped-def]
            await self._in_community(conn, path, request_id)
            await step(conn, request_id, who.subject)
            return response_cls(help_request=await helpdesk.load(conn, request_id))

        return await once(self.db, self.app.clock, method, request, response_cls, run)

    async def AcknowledgeHelpRequest(self, request: pb.AcknowledgeHelpRequestRequest,
                                     context: grpc.aio.ServicerContext) -> pb.AcknowledgeHelpRequestResponse:
        return await self._change(  # type: ignore[no-any-return]
            "AcknowledgeHelpRequest", request, pb.AcknowledgeHelpRequestResponse,
            lambda conn, rid, who: helpdesk.acknowledge(self.app, conn, rid, who))

    async def StartHelpRequest(self, request: pb.StartHelpRequestRequest,
                               context: grpc.aio.ServicerContext) -> pb.StartHelpRequestResponse:
        note = text_field("note", request.note, limit=1000)
        return await self._change(  # type: ignore[no-any-return]
            "StartHelpRequest", request, pb.StartHelpRequestResponse,
            lambda conn, rid, who: helpdesk.start(self.app, conn, rid, who, note))

    async def ResolveHelpRequest(self, request: pb.ResolveHelpRequestRequest,
                                 context: grpc.aio.ServicerContext) -> pb.ResolveHelpRequestResponse:
        resolution = text_field("resolution", request.resolution, required=True)
        helpers = [valid_id("helper_ids", h) for h in request.helper_ids]
        return await self._change(  # type: ignore[no-any-return]
            "ResolveHelpRequest", request, pb.ResolveHelpRequestResponse,
            lambda conn, rid, who: helpdesk.resolve(self.app, conn, rid, who, resolution, helpers))

    async def RecordFollowUp(self, request: pb.RecordFollowUpRequest,
                             context: grpc.aio.ServicerContext) -> pb.RecordFollowUpResponse:
        _path, _request_id, number = parse_follow_up("name", request.name)
        note = text_field("note", request.note, required=True, limit=1000)
        return await self._change(  # type: ignore[no-any-return]
            "RecordFollowUp", request, pb.RecordFollowUpResponse,
            lambda conn, rid, who: helpdesk.record_follow_up(self.app, conn, rid, number, who, note),
            name=request.name.rsplit("/followUps/", 1)[0])

    async def CloseHelpRequest(self, request: pb.CloseHelpRequestRequest,
                               context: grpc.aio.ServicerContext) -> pb.CloseHelpRequestResponse:
        note = text_field("note", request.note, limit=1000)
        return await self._change(  # type: ignore[no-any-return]
            "CloseHelpRequest", request, pb.CloseHelpRequestResponse,
            lambda conn, rid, who: helpdesk.close(self.app, conn, rid, who, note))

    async def CancelHelpRequest(self, request: pb.CancelHelpRequestRequest,
                                context: grpc.aio.ServicerContext) -> pb.CancelHelpRequestResponse:
        reason = text_field("reason", request.reason, required=True, limit=1000)
        who = caller()

        async def cancel(conn: AsyncConnection, request_id: str, actor: str) -> None:
            # Staff may cancel; so may whoever reported it (the need went away).
            reporter = (await conn.execute(sa.select(help_request.c.reporter_id).where(
                help_request.c.id == request_id))).scalar()
            if not is_staff(who) and reporter != who.subject:
                raise PermissionDenied("only community staff or the reporter may cancel a request",
                                       reason="ROLE_NOT_ALLOWED")
            await helpdesk.cancel(self.app, conn, request_id, actor, reason)

        return await self._change(  # type: ignore[no-any-return]
            "CancelHelpRequest", request, pb.CancelHelpRequestResponse, cancel, staff=False)

    async def RecordThanks(self, request: pb.RecordThanksRequest,
                           context: grpc.aio.ServicerContext) -> pb.RecordThanksResponse:
        if not request.HasField("thanks"):
            raise InvalidArgument.field("thanks", "is required")
        given = request.thanks
        if given.kind not in THANKS_KINDS:
            raise InvalidArgument.field("thanks.kind", "must be 'banner' or 'message'")
        text_field("thanks.text", given.text, required=True, limit=1000)
        text_field("thanks.from", getattr(given, "from"), limit=200)
        for person in given.recipient_ids:
            valid_id("thanks.recipient_ids", person)
        return await self._change(  # type: ignore[no-any-return]
            "RecordThanks", request, pb.RecordThanksResponse,
            lambda conn, rid, who: helpdesk.record_thanks(self.app, conn, rid, who, given))
