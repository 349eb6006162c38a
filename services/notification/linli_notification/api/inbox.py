"""linli.notification.v1.InboxService: a recipient's notices and preferences. A person reads
and changes only their own (platform admins and services any)."""

from __future__ import annotations

from typing import Any

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_notification.api import convert
from linli_notification.api.access import require_self
from linli_notification.community import (
    DEFAULT_UTC_OFFSET_MINUTES,
    MAX_UTC_OFFSET_MINUTES,
    MIN_UTC_OFFSET_MINUTES,
)
from linli_notification.names import parse_notice, parse_recipient
from linli_notification.notices import LANGUAGES, Inbox, Prefs
from linli_notification.providers import CHANNELS
from linli_runtime import fields
from linli_runtime.auth import out_of_scope
from linli_runtime.errors import InvalidArgument
from linli_runtime.names import org_path
from linli_runtime.paging import page_size
from linli_runtime.times import parse_hhmm

COMPOUND_DEPTH = 5  # city/district/street/community/compound


class InboxServicer(pb_grpc.InboxServiceServicer):
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def ListNotices(self, request: pb.ListNoticesRequest, context: Any) -> pb.ListNoticesResponse:
        recipient = parse_recipient("parent", request.parent)
        size = page_size(request.page_size)
        require_self(recipient)
        found, next_token = await self.inbox.notices(recipient, unread_only=request.unread_only,
                                                     page_token=request.page_token, size=size)
        return pb.ListNoticesResponse(notices=[convert.notice(n) for n in found], next_page_token=next_token)

    async def MarkNoticeRead(self, request: pb.MarkNoticeReadRequest, context: Any) -> pb.MarkNoticeReadResponse:
        recipient, notice_id = parse_notice("name", request.name)
        require_self(recipient)
        return pb.MarkNoticeReadResponse(notice=convert.notice(await self.inbox.mark_read(recipient, notice_id)))

    async def GetPreferences(self, request: pb.GetPreferencesRequest, context: Any) -> pb.GetPreferencesResponse:
        recipient = parse_recipient("name", request.name, "preferences")
        require_self(recipient)
        return pb.GetPreferencesResponse(preferences=convert.preferences(await self.inbox.preferences(recipient)))

    async def UpdatePreferences(self, request: pb.UpdatePreferencesRequest,
                                context: Any) -> pb.UpdatePreferencesResponse:
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
        paths = [org_path("preferences.subscribed_paths", path) for path in p.subscribed_paths]
        fields.in_range("preferences.utc_offset_minutes", p.utc_offset_minutes, MIN_UTC_OFFSET_MINUTES,
                        MAX_UTC_OFFSET_MINUTES)
        who = require_self(recipient)
        # A resident hears about their own compound, not every compound: a path their grants
        # reach, or the compound of their home (their grant is for the household below it).
        homes = {"/".join(g.scope.split("/")[:COMPOUND_DEPTH]) for g in who.grants
                 if g.scope.count("/") + 1 >= COMPOUND_DEPTH}
        for path in paths:
            if not who.can_reach(path) and path not in homes:
                raise out_of_scope(who, path)
        prefs = Prefs(recipient, language, list(dict.fromkeys(p.channels)), p.phone, p.wechat_openid, quiet_start,
                      quiet_end, p.utc_offset_minutes or DEFAULT_UTC_OFFSET_MINUTES, paths)
        return pb.UpdatePreferencesResponse(preferences=convert.preferences(await self.inbox.update_preferences(prefs)))
