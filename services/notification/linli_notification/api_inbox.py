"""linli.notification.v1.InboxService: a recipient's notices and preferences. A person reads
and changes only their own (platform admins and services any)."""

from __future__ import annotations

import grpc
import sqlalchemy as sa

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification.api_common import page_size
from linli_notification.helpdesk import EventMaker
from linli_notification.names import parse_notice, parse_recipient, recipient_name
from linli_notification.notices import Prefs, prefs_of, save_prefs
from linli_notification.providers import CHANNELS
from linli_notification.tables import delivery, notice
from linli_notification.times import hhmm, parse_hhmm, ts
from linli_runtime.auth import Role, caller, normalize_path
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, NotFound, PermissionDenied
from linli_runtime.paging import keyset_page

LANGUAGES = ("zh", "en")


def require_self(recipient_id: str) -> None:
    who = caller()
    if who.subject != recipient_id and who.role not in (Role.PLATFORM_ADMIN.value, Role.SERVICE.value):
        raise PermissionDenied("you may read and change only your own notices and preferences",
                               reason="NOT_YOUR_INBOX", metadata={"recipient": recipient_id})


def notice_proto(row, deliveries=()) -> pb.Notice:  # type: ignore[no-untyped-def]
    return pb.Notice(
        name=f"{recipient_name(row.recipient_id)}/notices/{row.id}", kind=row.kind, title=row.title, body=row.body,
        critical=row.critical, subject_resource=row.subject_resource, event_id=row.event_id,
        create_time=ts(row.created_at), read_time=ts(row.read_at), org_path=row.org_path,
        deliveries=[pb.Delivery(channel=d.channel, state=d.state, provider=d.provider, attempts=d.attempts,
                                last_error=d.last_error, next_attempt_time=ts(d.next_attempt_at),
                                sent_time=ts(d.sent_at)) for d in deliveries])


def prefs_proto(p: Prefs) -> pb.Preferences:
    return pb.Preferences(
        name=f"{recipient_name(p.recipient_id)}/preferences", language=p.language, channels=p.channels,
        phone=p.phone, wechat_openid=p.wechat_openid,
        quiet_start=hhmm(p.quiet_start) if p.quiet_start is not None else "",
        quiet_end=hhmm(p.quiet_end) if p.quiet_end is not None else "",
        subscribed_paths=p.subscribed_paths, utc_offset_minutes=p.utc_offset_minutes)


class InboxServicer(pb_grpc.InboxServiceServicer):
    def __init__(self, app: EventMaker, db: Database) -> None:
        self.app = app
        self.db = db

    async def ListNotices(self, request: pb.ListNoticesRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListNoticesResponse:
        recipient = parse_recipient("parent", request.parent)
        size = page_size(request.page_size)
        require_self(recipient)
        scope = f"inbox|{recipient}|{request.unread_only}"
        query = sa.select(notice).where(notice.c.recipient_id == recipient)
        if request.unread_only:
            query = query.where(notice.c.read_at.is_(None))
        async with self.db.transaction() as session:
            conn = await session.connection()
            rows, next_token = await keyset_page(conn, query, notice.c.seq, kind=scope, page_token=request.page_token,
                                                 size=size, newest_first=True)
            ids = [r.id for r in rows]
            by_notice: dict[str, list[object]] = {}
            if ids:
                for d in await conn.execute(sa.select(delivery).where(delivery.c.notice_id.in_(ids)).order_by(
                        delivery.c.seq)):
                    by_notice.setdefault(d.notice_id, []).append(d)
        return pb.ListNoticesResponse(notices=[notice_proto(r, by_notice.get(r.id, ())) for r in rows],
                                      next_page_token=next_token)

    async def MarkNoticeRead(self, request: pb.MarkNoticeReadRequest,
                             context: grpc.aio.ServicerContext) -> pb.MarkNoticeReadResponse:
        recipient, notice_id = parse_notice("name", request.name)
        require_self(recipient)
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(notice.update().where(
                notice.c.id == notice_id, notice.c.recipient_id == recipient, notice.c.read_at.is_(None)).values(
                read_at=self.app.clock.now()))
            row = (await conn.execute(sa.select(notice).where(
                notice.c.id == notice_id, notice.c.recipient_id == recipient))).first()
            if row is None:
                raise NotFound(f"notice {request.name!r} does not exist", reason="NOTICE_NOT_FOUND")
            deliveries = (await conn.execute(sa.select(delivery).where(delivery.c.notice_id == notice_id))).all()
        return pb.MarkNoticeReadResponse(notice=notice_proto(row, deliveries))

    async def GetPreferences(self, request: pb.GetPreferencesRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetPreferencesResponse:
        recipient = parse_recipient("name", request.name, "preferences")
        require_self(recipient)
        async with self.db.transaction() as session:
            return pb.GetPreferencesResponse(
                preferences=prefs_proto(await prefs_of(await session.connection(), recipient)))

    async def UpdatePreferences(self, request: pb.UpdatePreferencesRequest,
                                context: grpc.aio.ServicerContext) -> pb.UpdatePreferencesResponse:
        if not request.HasField("preferences"):
            raise InvalidArgument.field("preferences", "is required")
        p = request.preferences
        recipient = parse_recipient("preferences.name", p.name, "preferences")
        language = p.language or "zh"
        if language not in LANGUAGES:
            raise InvalidArgument.field("preferences.language", "must be 'zh' or 'en'")
        for channel in p.channels:
            if channel not in CHANNELS:
                raise InvalidArgument.field("preferences.channels", f"{channel!r} is not one of {', '.join(CHANNELS)}")
        if "sms" in p.channels and not p.phone:
            raise InvalidArgument.field("preferences.phone", "is required for the sms channel")
        if "wechat" in p.channels and not p.wechat_openid:
            raise InvalidArgument.field("preferences.wechat_openid", "is required for the wechat channel")
        if bool(p.quiet_start) != bool(p.quiet_end):
            raise InvalidArgument.field("preferences.quiet_end", "set both quiet_start and quiet_end, or neither")
        quiet_start = parse_hhmm("preferences.quiet_start", p.quiet_start) if p.quiet_start else None
        quiet_end = parse_hhmm("preferences.quiet_end", p.quiet_end) if p.quiet_end else None
        paths = []
        for path in p.subscribed_paths:
            try:
                normalized = normalize_path(path)
            except InvalidArgument:
                raise InvalidArgument.field("preferences.subscribed_paths", f"{path!r} is not an org path") from None
            if not normalized:
                raise InvalidArgument.field("preferences.subscribed_paths", "must name an org unit")
            paths.append(normalized)
        if not -12 * 60 <= p.utc_offset_minutes <= 14 * 60:
            raise InvalidArgument.field("preferences.utc_offset_minutes", "must be between -720 and 840")
        require_self(recipient)
        who = caller()
        for path in paths:  # a resident hears about their own compound, not every compound
            if not who.can_reach(path):
                raise PermissionDenied(f"you may not subscribe to '{path}', outside your scope '{who.scope or '/'}'",
                                       reason="OUT_OF_SCOPE", metadata={"path": path, "scope": who.scope})
        prefs = Prefs(recipient, language, list(dict.fromkeys(p.channels)), p.phone, p.wechat_openid, quiet_start,
                      quiet_end, p.utc_offset_minutes or 480, paths)
        async with self.db.transaction() as session:
            await save_prefs(await session.connection(), prefs)
        return pb.UpdatePreferencesResponse(preferences=prefs_proto(prefs))
