"""The portal's HTTP routes: public compound pages for residents (no sign-in), operator
dashboards for people signed in at the platform's issuer (signin.py), sign-in/out, a health
check, and JSON twins of the pages."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Form, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from google.protobuf.json_format import MessageToDict

from linli.governance.v1 import disclosure_pb2, org_pb2
from linli_portal import (
    checkin_routes,
    compound,
    dashboard,
    fmt,
    household_claim_routes,
    open_datasets,
    ops_export,
    ops_view,
    resident_routes,
    residents,
    visit_routes,
    volunteer_routes,
)
from linli_portal.backends import Backends
from linli_portal.fmt import CST, today_cst
from linli_portal.objections import WHOLE, WHOLE_NAME, ObjectionForm
from linli_portal.open_data import FORMATS, LICENCE_LINE
from linli_portal.operators import OutOfScope, SignInNeeded, authorize, home_scope, token_of, verify
from linli_portal.signin import (
    REFRESH_COOKIE,
    REFRESH_TTL,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_TTL,
    Pending,
    SignInClient,
    SignInFailed,
    TokenSet,
    expires_at,
    needs_renewal,
)
from linli_runtime.auth import Principal, normalize_path
from linli_runtime.errors import DomainError, InvalidArgument
from linli_runtime.metrics import HttpMetrics
from linli_runtime.oidc import TokenVerifier
from linli_runtime.tracing import NO_TRACING, Tracing

log = logging.getLogger("linli.portal")
HERE = Path(__file__).parent
# Pages use no scripts and no inline styles; /docs (FastAPI's Swagger UI) is exempt below.
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; " \
      "form-action 'self'; base-uri 'none'"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(yuan=fmt.yuan, points=fmt.points, date_text=fmt.date_text, datetime_text=fmt.datetime_text,
                             percent=fmt.percent, open_licence=LICENCE_LINE)


def clean_path(raw: str) -> str | None:
    try:
        return normalize_path(raw)
    except InvalidArgument:
        return None


class _Live:
    """The gRPC channels, made inside the server's event loop (grpc.aio binds them to it)."""

    def __init__(self, make: Callable[[], Backends]) -> None:
        self.make = make
        self.backends: Backends | None = None

    def __getattr__(self, name: str) -> Any:
        if self.backends is None:
            self.backends = self.make()
        return getattr(self.backends, name)


def create_app(make_backends: Callable[[], Backends], verifier: TokenVerifier, signin: SignInClient, *,
               cities: list[str] | None = None, secure_cookies: bool = False,
               tracing: Tracing = NO_TRACING) -> FastAPI:
    """`make_backends` is called once, in the server's event loop, on the first request;
    `verifier` checks people's access tokens against the issuer's JWKS; `signin` is the
    portal's OAuth client there. With `tracing` on, every request is a SERVER span (FastAPI's
    instrumentation), parent of the calls its page makes (give `make_backends` the same tracing)."""
    live = _Live(make_backends)
    kept_sums = dashboard.snapshots()  # operator pages' org trees (1 min) and points and redemptions (5 min)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await kept_sums.close()
        if live.backends is not None:
            await live.backends.close()
        await tracing.shutdown()

    app = FastAPI(title="Linli portal", description="Residents' compound pages and operators' dashboards",
                  version="0.1.0", lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(HttpMetrics, service="portal")  # linli_http_server_* on the metrics port
    tracing.instrument_fastapi(app)

    @app.middleware("http")
    async def safety_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """No scripts, no framing, no sniffing; operators' pages never cached (they carry what a
        token may see), public pages briefly."""
        response: Response = await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):  # Swagger UI loads its own scripts
            response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        private = request.url.path.startswith(("/ops", "/api/ops", "/signin", "/signout", "/auth", "/me", "/api/me",
                                               "/vouchers"))
        # A public page seen signed in carries the person's own (a compound page: their households
        # in its objection form): never kept by a shared cache, nor served to anyone else.
        personal = bool(token_of(request))
        if private or personal or request.method != "GET" or response.status_code != 200:
            response.headers["Cache-Control"] = "no-store"
        elif request.url.path.startswith(("/c/", "/api/compounds/", "/open/")) or request.url.path == "/":
            response.headers["Cache-Control"] = "public, max-age=60"
            response.headers["Vary"] = "Cookie, Authorization"
        return response
    b: Backends = live  # type: ignore[assignment]
    open_datasets.mount(app, b)  # /open/v1/…: disclosures, budgets and awards as CSV, JSON, XLSX

    def set_session(response: Response, tokens: TokenSet) -> None:
        response.set_cookie(SESSION_COOKIE, tokens.access_token, httponly=True, samesite="lax", secure=secure_cookies,
                            path="/", max_age=max(60, int(expires_at(tokens.access_token) - time.time())))
        if tokens.refresh_token:
            response.set_cookie(REFRESH_COOKIE, tokens.refresh_token, httponly=True, samesite="lax",
                                secure=secure_cookies, path="/", max_age=REFRESH_TTL)

    def end_session(response: Response) -> None:
        for name in (SESSION_COOKIE, REFRESH_COOKIE):
            response.delete_cookie(name, path="/", secure=secure_cookies, httponly=True, samesite="lax")

    @app.middleware("http")
    async def renew_session(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """Before an operator page: an access token about to lapse is renewed with the refresh
        token (the account's grants as they are now), transparently; a refused renewal ends the
        session (the page then asks to sign in)."""
        renewed: TokenSet | None = None
        ended = False
        refresh = request.cookies.get(REFRESH_COOKIE, "")
        if refresh and request.url.path.startswith(("/ops", "/api/ops", "/me", "/api/me", "/vouchers")) and \
                "authorization" not in request.headers and (
                    needs_renewal(request.cookies.get(SESSION_COOKIE, "")) or
                    # A household claim approved since sign-in (household_claims.stale): the new grant.
                    request.query_params.get("renew") == "grants"):
            try:
                renewed = await signin.refresh(refresh)
                request.state.access_token = renewed.access_token
            except SignInFailed as exc:
                log.info("session renewal refused", extra={"reason": str(exc)})
                ended = True
        response: Response = await call_next(request)
        if renewed is not None:
            set_session(response, renewed)
        elif ended:
            end_session(response)
        return response

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def error_page(request: Request, status: int, zh: str, en: str) -> HTMLResponse:
        return page(request, "error.html", status, code=status, zh=zh, en=en)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.url.path.startswith("/api/") or "authorization" in request.headers:
            return JSONResponse({"error": "UNAUTHENTICATED", "message": exc.reason}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")
        return RedirectResponse(f"/signin?next={target}", status_code=303)

    @app.exception_handler(OutOfScope)
    async def out_of_scope(request: Request, exc: OutOfScope) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "PERMISSION_DENIED", "message": exc.en}, status_code=403)
        return error_page(request, 403, exc.zh, exc.en)

    @app.exception_handler(DomainError)
    async def platform_error(request: Request, exc: DomainError) -> Response:
        log.warning("the portal could not act", extra={"reason": exc.reason, "details": exc.message})
        return error_page(request, 503, "服务暂时不可用，请稍后再试。",
                          f"The platform is not answering ({exc.reason}); please try again shortly.")

    @app.exception_handler(grpc.aio.AioRpcError)
    async def backend_error(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            return error_page(request, 404, "没有找到这个页面。", f"Not found: {exc.details()}")
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return error_page(request, 403, "您的令牌不能查看这些数据。", exc.details() or "Permission denied")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
        log.warning("backend call failed", extra={"code": code.name, "details": exc.details()})
        return error_page(request, 503, "服务暂时不可用，请稍后再试。",
                          f"A service is not answering ({code.name}); please try again shortly.")

    @app.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    # -- residents -------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        groups = await _compound_directory(b, cities or ["chengdu"])
        return page(request, "home.html", groups=groups)

    async def signed_in(request: Request) -> residents.Me | None:
        """The person signed in on this browser (their grants, no further calls), or None."""
        token = token_of(request)
        if not token:
            return None
        try:
            principal = await verify(verifier, token)
        except SignInNeeded:
            return None
        return residents.Me(token, principal, residents.households_of(principal))

    def own_households(me: residents.Me | None, view: compound.CompoundView) -> list[tuple[str, str]]:
        """The households of this compound `me` owns (an objection is an owner's, for their home)."""
        if me is None:
            return []
        labels = dict(view.households)
        return [(h.path, labels.get(h.path, h.path)) for h in me.owned if h.compound_path == view.path]

    async def compound_page(request: Request, path: str, form: ObjectionForm | None = None, status: int = 200,
                            notice: str = "") -> Response:
        view = await compound.load(b, path)
        me = await signed_in(request)
        mine = own_households(me, view)
        form = form or ObjectionForm(account=view.lines[0].account if view.lines else WHOLE,
                                     household=mine[0][0] if len(mine) == 1 else "")
        return page(request, "compound.html", status, v=view, form=form, notice=notice, me=me, mine=mine)

    @app.get("/c/{raw_path:path}", response_class=HTMLResponse)
    async def compound_view(request: Request, raw_path: str) -> Response:
        path = clean_path(raw_path)
        if not path:
            return error_page(request, 404, "没有这个小区。", f"There is no compound {raw_path!r}.")
        return await compound_page(request, path)

    @app.post("/c/{raw_path:path}/objections", response_class=HTMLResponse)
    async def file_objection(request: Request, raw_path: str, account: str = Form(""), kind: str = Form(""),
                             text: str = Form(""), household: str = Form(""),
                             request_id: str = Form("")) -> Response:
        """An owner, signed in, objects for their household with their own token (governance
        refuses the portal's: an objection is always someone's, one per household per
        disclosure). Anyone else is sent to sign in, and nothing is filed."""
        path = clean_path(raw_path)
        if not path:
            return error_page(request, 404, "没有这个小区。", f"There is no compound {raw_path!r}.")
        me = await signed_in(request)
        if me is None:
            return RedirectResponse(f"/signin?next={quote('/c/' + path, safe='/')}", status_code=303)
        view = await compound.load(b, path)
        mine = own_households(me, view)
        form = ObjectionForm(account=account, kind=kind, text=text, household=household, request_id=request_id)
        if view.latest is None:
            return error_page(request, 409, "这个小区还没有公示，暂不能提出异议。",
                              "This compound has no disclosure yet, so there is nothing to object to.")
        if not mine:
            return error_page(request, 403, "只有本小区的业主登录后才能提出异议或申请查阅凭证。",
                              "Only an owner of a household in this compound, signed in, may object or ask to "
                              "inspect the vouchers.")
        if not form.validate({line.account for line in view.lines}, {p for p, _ in mine}, required=True):
            return page(request, "compound.html", 422, v=view, form=form, notice="", me=me, mine=mine)
        try:
            reply = await b.disclosures.FileObjection(form.request(view.latest.name), **me.md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS):
                raise
            form.errors["form"] = f"未能提交 Not filed: {exc.details()}"
            return page(request, "compound.html", 422, v=view, form=form, notice="", me=me, mine=mine)
        names = {WHOLE: WHOLE_NAME, **{line.account: f"{line.zh} {line.en}" for line in view.lines}}
        return page(request, "objection_filed.html", 201, v=view, objection=reply.objection,
                    line_name=names.get(reply.objection.account, reply.objection.account))

    @app.get("/api/compounds/{raw_path:path}")
    async def compound_json(raw_path: str) -> Response:
        path = clean_path(raw_path) or "-"
        view = await compound.load(b, path)
        return JSONResponse({
            "compound": MessageToDict(view.unit),
            "chain": {"valid": view.chain.valid, "checked": view.chain.checked,
                      "broken_period": view.chain.broken_period, "reason": view.chain.reason,
                      "published_head_seal_hash": view.chain.head_seal,
                      "published_head_period": view.chain.head_period},
            "disclosures": [MessageToDict(d) for d in view.disclosures],
            "budget": MessageToDict(view.budget) if view.budget else None,
        })

    # -- operators -------------------------------------------------------------------------------

    @app.get("/signin")
    async def signin_start(request: Request, next: str = "") -> Response:
        """Off to the issuer's sign-in page (phone + SMS code); it sends the person back to
        /auth/callback with a code."""
        pending = Pending.start(_safe_next(next))
        try:
            target = await signin.authorization_url(pending)
        except SignInFailed as exc:
            return error_page(request, 503, "登录服务暂时不可用，请稍后再试。", f"Sign-in is not available: {exc}")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SIGNIN_COOKIE, pending.cookie(), max_age=SIGNIN_TTL, path="/auth", httponly=True,
                            samesite="lax", secure=secure_cookies)
        return response

    @app.get("/auth/callback")
    async def signin_callback(request: Request, code: str = "", state: str = "", error: str = "",
                              iss: str = "") -> Response:
        pending = Pending.from_cookie(request.cookies.get(SIGNIN_COOKIE, ""))
        if error:
            return error_page(request, 400, "登录已取消或未完成。", f"Sign-in did not complete ({error[:60]}).")
        if pending is None or not state or not secrets.compare_digest(state, pending.state):
            return error_page(request, 400, "登录已过期，请重新登录。",
                              "This sign-in has expired or did not start here; please sign in again.")
        if iss and iss.rstrip("/") != signin.issuer:
            return error_page(request, 400, "登录响应来自未知的签发方。",
                              "The sign-in answer came from another issuer.")
        try:
            tokens = await signin.exchange(code, pending)
            principal = await verifier.verify(tokens.access_token)
        except (SignInFailed, DomainError) as exc:
            return error_page(request, 400, "登录未成功，请重新登录。", f"Sign-in failed: {exc}")
        scope = home_scope(principal)
        # Operators land on their dashboard, everyone else (owners, family, tenants) on My page.
        target = pending.next or (f"/ops/{scope}" if scope else "/ops/" if scope == "" else "/me")
        response = RedirectResponse(target, status_code=303)
        set_session(response, tokens)
        response.delete_cookie(SIGNIN_COOKIE, path="/auth")
        return response

    resident_routes.mount(app, b, verifier, page, error_page)
    checkin_routes.mount(app, b, verifier, page, error_page)  # /me/organise, /me/checkin
    visit_routes.mount(app, b, verifier, page, error_page)  # /me/visits, /me/visits/review
    volunteer_routes.mount(app, b, verifier, page, error_page)

    async def claim_directory() -> list[tuple[str, list[tuple[str, str]]]]:
        """The compounds an owner may claim a unit in, by district and street/town."""
        groups = await _compound_directory(b, cities or ["chengdu"])
        return [(f"{d.display_name} · {s.unit.display_name}",
                 [(c.path, f"{c.display_name}（{community}）") for c, community in s.compounds])
                for d, streets in groups for s in streets]

    household_claim_routes.mount(app, b, verifier, page, error_page, claim_directory)  # /me/home/claim, /me/claims

    @app.post("/signout")
    async def signout(request: Request) -> Response:
        refresh = request.cookies.get(REFRESH_COOKIE, "")
        if refresh:
            await signin.revoke(refresh)
        response = RedirectResponse("/", status_code=303)
        end_session(response)
        return response

    @app.get("/ops/", response_class=HTMLResponse)
    @app.get("/ops", response_class=HTMLResponse)
    async def ops_root(request: Request, scope: str = "") -> Response:
        if scope:
            path = clean_path(scope)
            return RedirectResponse(f"/ops/{path}" if path else "/ops/", status_code=303)
        principal = await verify(verifier, token_of(request))
        home = home_scope(principal)
        if home is None:
            await authorize(verifier, request, "")  # says why this account may not open operator pages
        if home:
            return RedirectResponse(f"/ops/{home}", status_code=303)
        units = await asyncio.gather(*(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=c)) for c in cities or []))
        return page(request, "ops_index.html", cities=[u.org_unit for u in units], principal=principal)

    async def ops_load(request: Request, raw_path: str, *, wait: float | None = dashboard.PAGE_WAIT_S
                       ) -> tuple[dashboard.Dashboard, ops_view.Query, Any]:
        path = clean_path(raw_path)
        if not path:
            raise NoSuchUnit(raw_path)
        operator = await authorize(verifier, request, path)
        query = ops_view.Query.parse(request.query_params, path)
        loaded = await dashboard.load(b, path, operator.token, days=query.days, kept=kept_sums,
                                      role=_rights(operator.principal),
                                      fresh=request.query_params.get("refresh") == "1", wait=wait)
        return loaded, query, operator

    @app.exception_handler(NoSuchUnit)
    async def no_such_unit(request: Request, exc: NoSuchUnit) -> Response:
        return error_page(request, 404, "没有这个地区。", f"There is no org unit {exc.args[0]!r}.")

    @app.get("/ops/{raw_path:path}/communities.{kind}")
    async def ops_download(request: Request, raw_path: str, kind: str) -> Response:
        """Every community of the page's unit (narrowed by `district`/`street` as the page's
        tables are), every figure: CSV streamed (UTF-8 with a byte-order mark, as the open data
        is) or an Excel workbook."""
        if kind not in ("csv", "xlsx"):
            return error_page(request, 404, "没有这种格式：请选 CSV 或 Excel。", "No such format: csv or xlsx.")
        loaded, query, _ = await ops_load(request, raw_path, wait=None)  # every row, however long it takes
        name = f"communities-{loaded.unit.path.replace('/', '-')}-{today_cst().date().isoformat()}.{kind}"
        headers = {"Content-Disposition": f"attachment; filename=\"{name}\"", "Cache-Control": "no-store"}
        rows = ops_view.export_rows(loaded, query)
        if kind == "csv":
            return StreamingResponse(ops_export.to_csv(rows), media_type=FORMATS["csv"], headers=headers)
        content = await asyncio.to_thread(ops_export.to_xlsx, list(rows))
        return Response(content, media_type=FORMATS["xlsx"], headers=headers)

    @app.get("/ops/{raw_path:path}", response_class=HTMLResponse)
    async def ops_dashboard(request: Request, raw_path: str) -> Response:
        loaded, query, operator = await ops_load(request, raw_path)
        started = time.perf_counter()
        shown = ops_view.view(loaded, query)
        taken = loaded.taken_at.astimezone(CST).strftime("%H:%M") if loaded.taken_at is not None else ""
        response = page(request, "dashboard.html", v=shown, taken=taken, operator=operator.principal,
                        stages=dashboard.STAGES, urgency=dashboard.URGENCY_NAMES)  # rendered here, not when sent
        response.headers["Server-Timing"] = loaded.server_timing(render=time.perf_counter() - started)
        return response

    @app.get("/api/ops/{raw_path:path}")
    async def ops_json(request: Request, raw_path: str, days: int = 7) -> Response:
        path = clean_path(raw_path) or "-"
        operator = await authorize(verifier, request, path)
        view = await dashboard.load(b, path, operator.token, days=30 if days >= 30 else 7, kept=kept_sums,
                                    role=_rights(operator.principal),
                                    fresh=request.query_params.get("refresh") == "1", wait=None)
        return JSONResponse({
            "path": path, "headline": view.headline, "compound_count": view.compound_count,
            "rollout": [{"street": r.key, "name": r.name, "counts": dict(zip(
                [label for _, label, _ in dashboard.STAGES], r.counts, strict=True))} for r in view.rollout],
            "communities": [{"path": c.path, "name": c.name, "volunteers": c.volunteers, "active": c.active,
                             "points_earned": c.points, "award_year": c.award_year, "awards": c.awards}
                            for c in view.communities],
            "help_requests": [{"community": h.path, "requests": h.requests, "acknowledged": h.acknowledged,
                               "median_minutes": h.median, "p90_minutes": h.p90, "within_sla": h.within_sla,
                               "open": h.open_now, "overdue": h.overdue_now} for h in view.help_rows],
            "redemptions": [{"merchant": m.merchant_id, "name": m.name, "redemptions": m.redemptions,
                             "redeemed_points": m.redeemed, "refunded_points": m.refunded, "net_points": m.net}
                            for m in view.merchants],
            "days": view.days, "unbalanced_days": view.unbalanced_days, "problems": view.problems,
        })

    return app


class NoSuchUnit(Exception):
    """An operator page's path that names no org unit (blank once cleaned)."""


def _rights(principal: Principal) -> str:
    """What a principal may read, as a key: two operators with the same grants read the same figures."""
    return ";".join(sorted(f"{g.role}@{g.scope}" for g in principal.grants))


def _safe_next(target: str) -> str:
    """Only local paths: a sign-in link must not send the token's owner elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else ""


async def _children_quiet(b: Backends, path: str) -> list[org_pb2.OrgUnit]:
    try:
        reply = await b.org.ListOrgUnits(org_pb2.ListOrgUnitsRequest(parent_path=path, page_size=500))
    except grpc.aio.AioRpcError:
        return []
    return list(reply.org_units)


@dataclass
class Street:
    unit: org_pb2.OrgUnit
    compounds: list[tuple[org_pb2.OrgUnit, str]]  # (compound, its community's name)


async def _compound_directory(b: Backends, cities: list[str]) -> list[tuple[org_pb2.OrgUnit, list[Street]]]:
    """Compounds by district and street/town, for residents looking for their own."""

    async def compounds_of(community: org_pb2.OrgUnit) -> list[tuple[org_pb2.OrgUnit, str]]:
        return [(c, community.display_name) for c in await _children_quiet(b, community.path)
                if c.kind == org_pb2.ORG_UNIT_KIND_COMPOUND]

    async def street(unit: org_pb2.OrgUnit) -> Street:
        communities = await _children_quiet(b, unit.path)
        found = await asyncio.gather(*(compounds_of(c) for c in communities))
        return Street(unit, [pair for group in found for pair in group])

    async def district(unit: org_pb2.OrgUnit) -> list[Street]:
        streets = await asyncio.gather(*(street(s) for s in await _children_quiet(b, unit.path)))
        return [s for s in streets if s.compounds]

    groups: list[tuple[org_pb2.OrgUnit, list[Street]]] = []
    for city in cities:
        districts = await _children_quiet(b, city)
        streets = await asyncio.gather(*(district(d) for d in districts))
        groups.extend((d, ss) for d, ss in zip(districts, streets, strict=True) if ss)
    return groups


__all__ = ["create_app", "disclosure_pb2"]
