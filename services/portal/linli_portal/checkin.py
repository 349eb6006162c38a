"""Check-in by the organiser's rotating QR code, the portal's side (volunteer-points'
check_in_tokens.py is the other).

The organiser's page asks volunteer-points for the current token (IssueCheckInToken, with the
organiser's own token) and shows the URL that carries it as a QR code (segno, inline SVG) and as
a link; the page reloads itself when the token rotates (`<meta http-equiv="refresh">`, no
JavaScript). The portal never holds the key: it cannot mint a token, only show one and pass one
back. A volunteer who opens the URL is checked in with *their* token (CheckInWithToken), so the
service decides who they are; a refusal is shown as the service's reason in words.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
import segno
from google.protobuf.timestamp_pb2 import Timestamp

from linli.points.v1 import activities_pb2 as apb
from linli_portal.fmt import datetime_text
from linli_runtime import rich_status

# Reload the organiser's page at most this often, at least this often (seconds).
MIN_REFRESH, MAX_REFRESH = 2, 30

SIGN_UP_STATES = {apb.SIGN_UP_STATE_SIGNED_UP: ("已报名", "signed up"),
                  apb.SIGN_UP_STATE_CHECKED_IN: ("已签到", "checked in"),
                  apb.SIGN_UP_STATE_CONFIRMED: ("已确认完成", "completed")}


@dataclass(frozen=True)
class Refusal:
    """Why a check-in was refused, for the person holding the phone."""

    status: int  # the page's HTTP status
    zh: str
    en: str
    reason: str  # the service's ErrorInfo reason, kept for tests and support


def community_slug(path: str) -> str:
    """A community path as one URL segment (`chengdu~jinjiang~…`)."""
    return path.replace("/", "~")


def community_of(slug: str) -> str:
    return slug.replace("~", "/")


def check_in_url(base: str, community_path: str, activity_id: str, token: str) -> str:
    return (f"{base.rstrip('/')}/me/checkin/{quote(community_slug(community_path), safe='~')}/"
            f"{quote(activity_id, safe='')}?t={quote(token, safe='.')}")


def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code (no image request, nothing for a script to do)."""
    out = io.BytesIO()
    # A viewBox instead of a fixed size: the page scales it to the phone's width.
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True, omitsize=True,
                                    title="签到二维码 Check-in QR code", svgclass="qr", dark="#000", light="#fff")
    return out.getvalue().decode().replace("<svg ", '<svg role="img" ', 1)


def refresh_seconds(rotate_time: Timestamp, now: datetime | None = None) -> int:
    """Seconds until the token rotates (bounded), when the organiser's page reloads."""
    left = (rotate_time.ToDatetime(UTC) - (now or datetime.now(UTC))).total_seconds()
    return int(min(MAX_REFRESH, max(MIN_REFRESH, left + 1)))


def refusal(exc: grpc.aio.AioRpcError) -> Refusal | None:
    """The words for a refused check-in, or None for an error that is not the volunteer's to fix
    (the service down: the portal's error page says so)."""
    reason, _ = rich_status.details(exc)
    meta = rich_status.error_metadata(exc)
    code = exc.code()
    if reason == "CHECK_IN_TOKEN_EXPIRED":
        return Refusal(410, "签到二维码已过期，请重新扫描组织者屏幕上的二维码。",
                       "This check-in code has expired: scan the organiser's screen again.", reason)
    if reason == "CHECK_IN_TOKEN_INVALID" or code == grpc.StatusCode.INVALID_ARGUMENT:
        return Refusal(403, "这个签到码无效：它不是本活动组织者的二维码。",
                       "This check-in code is not valid: it is not the organiser's code for this activity.",
                       reason or code.name)
    if reason == "OUTSIDE_CHECK_IN_WINDOW":
        opens, closes = _local(meta.get("window_start", "")), _local(meta.get("window_end", ""))
        return Refusal(409, f"现在不在本活动的签到时间内（{opens} 至 {closes}）。",
                       f"Check-in is open only from {opens} to {closes} (Beijing time).", reason)
    if reason == "NOT_SIGNED_UP":
        return Refusal(409, "您还没有报名这个活动，请先报名再签到。",
                       "You have not signed up for this activity: sign up first.", reason)
    if reason == "ALREADY_CHECKED_IN":
        when = _local(meta.get("check_in_time", ""))
        return Refusal(409, f"您已于 {when} 签到，重复签到无效：每次活动只计一次。",
                       f"You checked in at {when} already: a check-in counts once.", reason)
    if reason in ("NOT_A_VOLUNTEER_HERE", "OUT_OF_SCOPE"):
        return Refusal(403, "您不是这个社区的志愿者（或账号尚未绑定志愿者），不能在此签到。",
                       "You are not a volunteer of this community (or your account is not bound to one).", reason)
    if code == grpc.StatusCode.NOT_FOUND:
        return Refusal(404, "没有这个活动。", "There is no such activity.", reason or code.name)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
        return Refusal(403 if code == grpc.StatusCode.PERMISSION_DENIED else 409, "未能签到。",
                       str(exc.details() or code.name), reason or code.name)
    return None


def _local(iso: str) -> str:
    try:
        stamp = Timestamp()
        stamp.FromDatetime(datetime.fromisoformat(iso))
    except ValueError:
        return "—"
    return datetime_text(stamp)
