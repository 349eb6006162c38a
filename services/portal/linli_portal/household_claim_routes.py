"""Household-claim routes (household_claims.py): an owner asks to be bound to their unit
(/me/home/claim: choose the compound, then the unit, give the name on the owners' register); the
committee or the community worker approves or rejects (/me/claims/review). Forms post back and
answer with a redirect (303) or the page with what to fix, without JavaScript; the claim form
carries a request id minted when the page was rendered, so a double tap files once."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from linli_portal import household_claims, residents
from linli_portal.backends import Backends
from linli_portal.household_claims import Directory
from linli_portal.operators import token_of, verify
from linli_portal.resident_routes import ErrorPage, Page
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ID
from linli_runtime.oidc import TokenVerifier

CLAIM_ID = re.compile(r"^hcl_[a-z2-7]{20}$")
# What a person can fix from the page; anything else is the platform's failure (the error page).
FIXABLE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.RESOURCE_EXHAUSTED,
           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


def clean(raw: str) -> str:
    try:
        return normalize_path(raw)
    except InvalidArgument:
        return ""


def mount(app: FastAPI, b: Backends, verifier: TokenVerifier, page: Page, error_page: ErrorPage,
          directory: Directory) -> None:
    async def me_of(request: Request) -> residents.Me:
        token = token_of(request)
        return await residents.load_me(b, token, await verify(verifier, token))

    def back(path: str, notice: str) -> RedirectResponse:
        return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)

    async def claim_page(request: Request, me: residents.Me, compound_path: str, status: int = 200,
                         notice: str = "", error: str = "", **form: str) -> HTMLResponse:
        claims = await household_claims.mine(b, me)
        units = await household_claims.units_of(b, compound_path) if compound_path else []
        return page(request, "me_home_claim.html", status, me=me, claims=claims, states=household_claims.STATES,
                    labels=await household_claims.labels(b, claims),
                    compounds=await directory() if not units else [], compound=compound_path, units=units,
                    request_id=uuid.uuid4().hex, notice=notice, error=error, form=form)

    @app.get("/me/home/claim", response_class=HTMLResponse)
    async def claim_form(request: Request, compound: str = "", notice: str = "", renew: str = "") -> Response:
        me = await me_of(request)
        if renew != household_claims.RENEW and household_claims.stale(me, await household_claims.mine(b, me)):
            return RedirectResponse(f"/me/home/claim?renew={household_claims.RENEW}", status_code=303)
        return await claim_page(request, me, clean(compound), notice=notice)

    @app.get("/api/me/claims")
    async def my_claims_json(request: Request) -> Response:
        me = await me_of(request)
        return JSONResponse({"household_claims": [household_claims.claim_json(c)
                                                  for c in await household_claims.mine(b, me)]})

    @app.post("/me/home/claim", response_class=HTMLResponse)
    async def file_claim(request: Request, compound: str = Form(""), household: str = Form(""),
                         register_name: str = Form(""), note: str = Form(""), request_id: str = Form("")) -> Response:
        me = await me_of(request)
        compound_path, household, register_name, note = clean(compound), household.strip(), register_name.strip(), \
            note.strip()
        units = dict(await household_claims.units_of(b, compound_path)) if compound_path else {}
        error = ""
        if household not in units:
            error = "请选择您的房屋。 Choose your unit."
        elif not 1 <= len(register_name) <= 100:
            error = "请填写业主名册上的姓名。 Give the owner's name as it stands on the owners' register."
        elif len(note) > 500:
            error = "备注最多500字。 The note may be at most 500 characters."
        elif not ID.match(request_id):
            error = "表单已过期，请重新填写。 The form has expired; please fill it in again."
        if not error:
            try:
                await household_claims.file(b, me, household, register_name, note, request_id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in FIXABLE:
                    raise
                error = f"未能提交 Not filed: {exc.details()}"
        if error:
            return await claim_page(request, me, compound_path, 422, error=error, register_name=register_name,
                                    note=note, household=household)
        return back("/me/home/claim", f"已提交：{units[household]}，等待业主委员会或社区工作人员核对业主名册。 "
                                      "Filed: the owners' committee or the community worker checks it against the "
                                      "owners' register.")

    # -- the committee's side ----------------------------------------------------------------------

    async def review_page(request: Request, me: residents.Me, status: int = 200, notice: str = "",
                          error: str = "") -> HTMLResponse:
        return page(request, "committee_claims.html", status, me=me, reviews=await household_claims.to_review(b, me),
                    scopes=household_claims.review_scopes(me), notice=notice, error=error,
                    request_id=uuid.uuid4().hex)

    @app.get("/me/claims/review", response_class=HTMLResponse)
    async def review(request: Request, notice: str = "") -> Response:
        return await review_page(request, await me_of(request), notice=notice)

    @app.get("/api/me/claims/review")
    async def review_json(request: Request) -> Response:
        reviews = await household_claims.to_review(b, await me_of(request))
        return JSONResponse({"household_claims": [r.as_json() for r in reviews]})

    @app.post("/me/claims/review/{ident}", response_class=HTMLResponse)
    async def decide(request: Request, ident: str, decision: str = Form(""), reason: str = Form(""),
                     request_id: str = Form("")) -> Response:
        me = await me_of(request)
        if not CLAIM_ID.match(ident) or decision not in ("approve", "reject"):
            return error_page(request, 404, "没有这条申请。", "There is no such claim.")
        reason = reason.strip()
        if decision == "reject" and not reason:
            return await review_page(request, me, 422, error="请写明不通过的原因，申请人会看到。 "
                                                             "Say why: the owner sees your reason.")
        try:
            done = await household_claims.decide(b, me, ident, decision == "approve", reason[:300],
                                                 request_id if ID.match(request_id) else uuid.uuid4().hex)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in FIXABLE:
                raise
            return await review_page(request, me, 409, error=f"未能处理 Not done: {exc.details()}")
        who = done.account_display_name or done.account
        notice = (f"已批准，{who} 已绑定该房屋。 Approved: {who} is bound to the unit." if decision == "approve"
                  else f"已退回，{who} 会看到原因。 Rejected: {who} sees your reason.")
        return back("/me/claims/review", notice)
