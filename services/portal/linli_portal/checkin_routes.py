"""Check-in routes (checkin.py): the organiser's screen with the rotating QR code, the URL a
volunteer opens, and the organiser's confirmation of who completed the activity (which credits
the points). Everything is called with the signed-in person's own token: volunteer-points
decides who may show a code, who is checked in, and who may confirm."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from linli.points.v1 import activities_pb2 as apb
from linli_portal import checkin
from linli_portal.backends import Backends, as_operator
from linli_portal.operators import authorize, token_of, verify
from linli_portal.resident_routes import ErrorPage, Page
from linli_runtime.fields import ID
from linli_runtime.oidc import TokenVerifier


def mount(app: FastAPI, b: Backends, verifier: TokenVerifier, page: Page, error_page: ErrorPage) -> None:
    def place(slug: str, activity_id: str) -> tuple[str, str] | None:
        community = checkin.community_of(slug)
        if not ID.match(activity_id) or not community or ".." in community:
            return None
        return community, activity_id

    # -- the organiser ---------------------------------------------------------------------------

    @app.get("/me/organise", response_class=HTMLResponse)
    async def organise_index(request: Request, community: str = "", activity: str = "") -> Response:
        """Which activity to show the code of (the organiser types its id, or follows a link)."""
        token = token_of(request)
        principal = await verify(verifier, token)
        if community and activity and place(checkin.community_slug(community), activity):
            return RedirectResponse(f"/me/organise/{quote(checkin.community_slug(community), safe='~')}/"
                                    f"{quote(activity, safe='')}", status_code=303)
        communities = sorted({g.scope for g in principal.grants if g.scope.count("/") == 3})
        return page(request, "organiser_index.html", communities=communities, community=community,
                    activity=activity)

    @app.get("/me/organise/{slug}/{activity_id}", response_class=HTMLResponse)
    async def organiser_screen(request: Request, slug: str, activity_id: str, notice: str = "") -> Response:
        found = place(slug, activity_id)
        if found is None:
            return error_page(request, 404, "没有这个活动。", "There is no such activity.")
        community, activity_id = found
        operator = await authorize(verifier, request, community)
        md = as_operator(operator.token)
        try:
            issued = await b.activities.IssueCheckInToken(apb.IssueCheckInTokenRequest(
                community_path=community, activity_id=activity_id), **md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return error_page(request, 409, "这个活动没有开始时间，不能扫码签到。", str(exc.details()))
        current = await b.activities.GetActivity(apb.GetActivityRequest(
            community_path=community, activity_id=activity_id), **md)
        url = checkin.check_in_url(str(request.base_url), community, activity_id, issued.token)
        return page(request, "organiser_checkin.html", activity=issued.activity, issued=issued, url=url,
                    qr=checkin.qr_svg(url), refresh=checkin.refresh_seconds(issued.rotate_time),
                    sign_ups=list(current.sign_ups), states=checkin.SIGN_UP_STATES, notice=notice,
                    confirm_action=f"/me/organise/{quote(slug, safe='~')}/{quote(activity_id, safe='')}/confirm",
                    checked_in=apb.SIGN_UP_STATE_CHECKED_IN)

    @app.post("/me/organise/{slug}/{activity_id}/confirm")
    async def confirm(request: Request, slug: str, activity_id: str) -> Response:
        found = place(slug, activity_id)
        if found is None:
            return error_page(request, 404, "没有这个活动。", "There is no such activity.")
        community, activity_id = found
        operator = await authorize(verifier, request, community)
        form = await request.form()
        volunteers = sorted({v for v in form.getlist("volunteer_ids") if isinstance(v, str) and ID.match(v)})
        back = f"/me/organise/{quote(slug, safe='~')}/{quote(activity_id, safe='')}"
        if not volunteers:
            return RedirectResponse(f"{back}?notice={quote('请选择要确认的志愿者。 Choose whom to confirm.')}",
                                    status_code=303)
        try:
            done = await b.activities.ConfirmCompletion(apb.ConfirmCompletionRequest(
                community_path=community, activity_id=activity_id, volunteer_ids=volunteers),
                **as_operator(operator.token))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return RedirectResponse(f"{back}?notice={quote(f'未能确认 Not confirmed: {exc.details()}')}",
                                    status_code=303)
        points = sum(s.points_credited for s in done.sign_ups)
        count = len(done.sign_ups)
        notice = f"已确认 {count} 人完成，记入 {points} 积分。 Confirmed {count}: {points} points credited."
        return RedirectResponse(f"{back}?notice={quote(notice)}", status_code=303)

    # -- the volunteer ---------------------------------------------------------------------------

    @app.get("/me/checkin/{slug}/{activity_id}", response_class=HTMLResponse)
    async def check_in(request: Request, slug: str, activity_id: str, t: str = "") -> Response:
        """Opening the URL of the organiser's QR code checks the signed-in volunteer in (not
        signed in: to the issuer and back here, app.sign_in_needed). The token is the proof; a
        reload or a replay is refused by the service (a check-in counts once)."""
        found = place(slug, activity_id)
        if found is None:
            return error_page(request, 404, "没有这个活动。", "There is no such activity.")
        community, activity_id = found
        token = token_of(request)
        await verify(verifier, token)
        try:
            done = await b.activities.CheckInWithToken(apb.CheckInWithTokenRequest(
                community_path=community, activity_id=activity_id, token=t[:64]), **as_operator(token))
        except grpc.aio.AioRpcError as exc:
            refused = checkin.refusal(exc)
            if refused is None:
                raise
            return page(request, "me_checkin.html", refused.status, refused=refused, activity=None, sign_up=None,
                        check_id=uuid.uuid4().hex[:8])
        return page(request, "me_checkin.html", refused=None, activity=done.activity, sign_up=done.sign_up,
                    check_id="")
