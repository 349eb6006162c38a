"""Visit routes (visits.py): a volunteer logs a visit to their paired elder (/me/visits); a
community worker confirms or rejects the pending ones (/me/visits/review). Forms post back and
answer with a redirect (303) or the page with what to fix, without JavaScript; the log form
carries a visit id minted when the page was rendered — the request id — so a double tap logs
once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from google.protobuf.json_format import MessageToDict

from linli.points.v1 import pairings_pb2 as ppb
from linli_portal import checkin, residents, visits
from linli_portal.backends import Backends
from linli_portal.fmt import CST
from linli_portal.operators import token_of, verify
from linli_portal.resident_routes import ErrorPage, Page
from linli_runtime.fields import ID
from linli_runtime.oidc import TokenVerifier
from linli_runtime.times import to_timestamp


def mount(app: FastAPI, b: Backends, verifier: TokenVerifier, page: Page, error_page: ErrorPage) -> None:
    async def me_of(request: Request) -> residents.Me:
        token = token_of(request)
        return await residents.load_me(b, token, await verify(verifier, token))

    def back(path: str, notice: str) -> RedirectResponse:
        return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)

    async def my_visits_page(request: Request, me: residents.Me, status: int = 200, notice: str = "",
                             error: str = "") -> HTMLResponse:
        mine = await visits.my_volunteering(b, me)
        return page(request, "me_visits.html", status, me=me, mine=mine, types=visits.VISIT_TYPES,
                    states=visits.VISIT_STATES, notice=notice, error=error, visit_id=uuid.uuid4().hex,
                    now_local=datetime.now(CST).strftime("%Y-%m-%dT%H:%M"), pending=ppb.VISIT_STATE_PENDING,
                    rejected=ppb.VISIT_STATE_REJECTED)

    @app.get("/me/visits", response_class=HTMLResponse)
    async def my_visits(request: Request, notice: str = "") -> Response:
        return await my_visits_page(request, await me_of(request), notice=notice)

    @app.get("/api/me/visits")
    async def my_visits_json(request: Request) -> Response:
        mine = await visits.my_volunteering(b, await me_of(request))
        return JSONResponse({"volunteering": [{
            "community_path": m.community_path, "volunteer_id": m.volunteer.volunteer_id,
            "family_id": m.volunteer.family_id,
            "pairings": [{"pairing_id": p.pairing_id, "elder_id": p.elder_id, "elder": p.elder_display_name}
                         for p in m.pairings],
            "visits": [MessageToDict(v) for v in m.visits]} for m in mine]})

    @app.post("/me/visits", response_class=HTMLResponse)
    async def log_visit(request: Request, community: str = Form(""), pairing: str = Form(""),
                        visit_type: int = Form(0), when: str = Form(""), note: str = Form(""),
                        visit_id: str = Form("")) -> Response:
        me = await me_of(request)
        mine = next((m for m in await visits.my_volunteering(b, me) if m.community_path == community), None)
        at = visits.parse_local(when)
        error = ""
        if mine is None or not any(p.pairing_id == pairing for p in mine.pairings):
            error = "请选择您家结对的老人。 Choose the elder your family is paired with."
        elif visit_type not in visits.VISIT_TYPES:
            error = "请选择探访类型。 Say what the visit was for."
        elif at is None or at > datetime.now(UTC).astimezone(CST).replace(second=59):
            error = "请填写探访时间（不能晚于现在）。 Give when the visit was (not in the future)."
        elif not ID.match(visit_id):
            error = "表单已过期，请重新填写。 The form has expired; please fill it in again."
        if error or mine is None or at is None:
            return await my_visits_page(request, me, 422, error=error)
        try:
            await b.pairings.LogVisit(ppb.LogVisitRequest(community_path=community, visit=ppb.Visit(
                pairing_id=pairing, visit_id=visit_id, volunteer_id=mine.volunteer.volunteer_id,
                visit_time=to_timestamp(at), visit_type=visit_type,  # type: ignore[arg-type]
                note=note.strip()[:500])), **me.md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.ALREADY_EXISTS):
                raise
            return await my_visits_page(request, me, 422, error=f"未能记录 Not logged: {exc.details()}")
        return back("/me/visits", f"已记录探访{visits.VISIT_TYPES[visit_type][0]}，等待老人或社工确认。 "
                                  "Logged: it counts once the elder or the community worker confirms it.")

    # -- the community worker ----------------------------------------------------------------------

    async def review_page(request: Request, me: residents.Me, status: int = 200, notice: str = "",
                          error: str = "") -> HTMLResponse:
        return page(request, "worker_visits.html", status, me=me, reviews=await visits.to_review(b, me),
                    types=visits.VISIT_TYPES, notice=notice, error=error, slug=checkin.community_slug)

    @app.get("/me/visits/review", response_class=HTMLResponse)
    async def review(request: Request, notice: str = "") -> Response:
        return await review_page(request, await me_of(request), notice=notice)

    @app.post("/me/visits/review/{slug}/{visit_id}", response_class=HTMLResponse)
    async def decide(request: Request, slug: str, visit_id: str, decision: str = Form(""),
                     reason: str = Form("")) -> Response:
        me = await me_of(request)
        community = checkin.community_of(slug)
        if not ID.match(visit_id) or decision not in ("confirm", "reject"):
            return error_page(request, 404, "没有这次探访。", "There is no such visit.")
        if decision == "reject" and not reason.strip():
            return await review_page(request, me, 422, error="请写明不通过的原因。 Say why the visit is rejected.")
        try:
            if decision == "confirm":
                done = (await b.pairings.ConfirmVisit(ppb.ConfirmVisitRequest(
                    community_path=community, visit_id=visit_id), **me.md)).visit
                notice = (f"已确认，志愿者 {done.volunteer_id} 获得 {done.points_credited} 积分。 "
                          f"Confirmed: {done.points_credited} points to {done.volunteer_id}.")
            else:
                done = (await b.pairings.RejectVisit(ppb.RejectVisitRequest(
                    community_path=community, visit_id=visit_id, reason=reason.strip()[:500]), **me.md)).visit
                notice = f"已退回，志愿者会看到原因。 Rejected: {done.volunteer_id} sees your reason."
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                raise
            return await review_page(request, me, 409, error=f"未能处理 Not done: {exc.details()}")
        return back("/me/visits/review", notice)
