"""The Starlette application of the issuer (see the package docstring for the routes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from linli_identity.accounts import ACTIVE, Accounts, masked_phone, normalize_phone
from linli_identity.keys import KeyRing
from linli_identity.oauth.device import DeviceCodes
from linli_identity.oauth.errors import OAuthError
from linli_identity.oauth.server import AuthorizeError, AuthorizeRequest, OAuthServer
from linli_identity.ratelimit import TooManyRequests
from linli_identity.sessions import COOKIE, Session, WebSessions
from linli_identity.sms import BUSY, EXPIRED, LOCKED, REJECTED, SmsCodes, SmsNotSent
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument

PAGES = jinja2.Environment(loader=jinja2.PackageLoader("linli_identity", "templates"), autoescape=True)
# Where `next` may send a person after sign-in: the issuer's own flows, nothing else.
NEXT_PATHS = ("/oauth/authorize", "/device", "/")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Text:
    zh: str
    en: str


ERRORS = {
    "csrf": Text("页面已过期，请重试。", "The page has expired; please try again."),
    "phone": Text("手机号码格式不正确。", "That is not a phone number we can send to."),
    "wrong": Text("验证码不正确，请重新输入。", "The code is not right; try again."),
    EXPIRED: Text("验证码已失效，请重新获取。", "The code has expired or was used; ask for a new one."),
    LOCKED: Text("尝试次数过多，请重新获取验证码。", "Too many tries; ask for a new code."),
    "disabled": Text("该账号已停用，请联系社区工作人员。", "This account is disabled; contact your community office."),
    "no_account": Text("该号码尚未开通账号，请联系社区工作人员。",
                       "This number has no account yet; ask your community office."),
    "user_code": Text("设备代码无效或已过期，请核对后重试。",
                      "That device code is unknown or expired; check it and retry."),
    REJECTED: Text("无法向该号码发送短信，请核对号码。", "Text messages cannot be sent to that number; check it."),
    "sms_unavailable": Text("短信暂时无法发送，请稍后再试。", "The text message could not be sent just now; try again "
                                                         "in a moment."),
}


def safe_next(value: str) -> str:
    """A local path of the issuer's own flows, or "/" (never another site: no open redirect)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and \
            any(value == p or value.startswith(p + "?") for p in NEXT_PATHS):
        return value
    return "/"


class IssuerWeb:
    """The pages and endpoints, bound to the service's domain objects."""

    def __init__(self, *, db: Database, issuer_url: str, oauth: OAuthServer, keys: KeyRing, sessions: WebSessions,
                 sms: SmsCodes, accounts: Accounts, devices: DeviceCodes, self_signup: bool,
                 secure_cookies: bool) -> None:
        self.db = db
        self.issuer_url = issuer_url
        self.oauth = oauth
        self.keys = keys
        self.sessions = sessions
        self.sms = sms
        self.accounts = accounts
        self.devices = devices
        self.self_signup = self_signup
        self.secure_cookies = secure_cookies

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/healthz", self.healthz),
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks.json", self.jwks),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/device_authorization", self.device_authorization, methods=["POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/oauth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/signin", self.signin, methods=["GET", "POST"]),
            Route("/signin/code", self.signin_code, methods=["POST"]),
            Route("/signout", self.signout, methods=["POST"]),
            Route("/device", self.device, methods=["GET", "POST"]),
            Route("/", self.home),
        ])

    # -- machine endpoints ------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.oauth.discovery(), headers={"Cache-Control": "public, max-age=300"})

    async def jwks(self, request: Request) -> Response:
        # Short caching: verifiers refetch on an unknown kid anyway; a rotation shows within a minute.
        return JSONResponse(self.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})

    async def _form(self, request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def token(self, request: Request) -> Response:
        try:
            body = await self.oauth.token(await self._form(request), request.headers.get("authorization"))
        except OAuthError as exc:
            headers = {**NO_STORE, **({"WWW-Authenticate": "Basic"} if exc.status == 401 else {})}
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        try:
            await self.oauth.revoke(await self._form(request), request.headers.get("authorization"))
        except OAuthError as exc:
            headers = {**NO_STORE, **({"WWW-Authenticate": "Basic"} if exc.status == 401 else {})}
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        return Response(status_code=200, headers=NO_STORE)

    async def device_authorization(self, request: Request) -> Response:
        try:
            body = await self.oauth.device_authorization(await self._form(request),
                                                         request.headers.get("authorization"))
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers=NO_STORE)
        return JSONResponse(body, headers=NO_STORE)

    # -- pages ----------------------------------------------------------------------------------

    def _page(self, template: str, status: int = 200, headers: dict[str, str] | None = None,
              **context: Any) -> HTMLResponse:
        html = PAGES.get_template(template).render(issuer=self.issuer_url, **context)
        return HTMLResponse(html, status_code=status, headers={**NO_STORE, "X-Frame-Options": "DENY",
                                                               **(headers or {})})

    def _message(self, title: Text, text: Text | None = None, *, status: int = 200, kind: str = "note",
                 session: Session | None = None, account_name: str = "", headers: dict[str, str] | None = None,
                 ) -> HTMLResponse:
        return self._page("message.html", status, headers, title=title, text=text, kind=kind,
                          csrf_token=session.csrf_token if session else "", account_name=account_name)

    def _set_cookie(self, response: Response, session: Session) -> Response:
        response.set_cookie(COOKIE, session.cookie, max_age=int(self.sessions.lifetime.total_seconds()), path="/",
                            httponly=True, samesite="lax", secure=self.secure_cookies)
        return response

    async def _session(self, request: Request) -> Session | None:
        return await self.sessions.load(request.cookies.get(COOKIE))

    async def _signed_in(self, request: Request) -> tuple[Session, str] | None:
        """The session and its account's display name, when signed in as an active account."""
        session = await self._session(request)
        if session is None or session.account_id is None:
            return None
        async with self.db.session() as db_session:
            account = await self.accounts.find(db_session, session.account_id)
        if account is None or account.status != ACTIVE:
            return None
        return session, account.display_name

    def _to_signin(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)

    async def home(self, request: Request) -> Response:
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return self._to_signin(request)
        session, name = signed_in
        return self._message(Text("邻里账号", "Linli account"), session=session, account_name=name)

    async def signin(self, request: Request) -> Response:
        session = await self._session(request) or await self.sessions.start()
        if request.method == "GET":
            next_path = safe_next(request.query_params.get("next", "/"))
            return self._set_cookie(self._page("signin.html", csrf_token=session.csrf_token, next=next_path, phone=""),
                                    session)
        form = await self._form(request)
        next_path = safe_next(form.get("next", "/"))
        if not session.csrf_ok(form.get("csrf_token", "")):
            fresh = await self.sessions.start(replacing=session.cookie)
            return self._set_cookie(self._page("signin.html", 400, csrf_token=fresh.csrf_token, next=next_path,
                                               phone="", error=ERRORS["csrf"]), fresh)
        try:
            phone = normalize_phone("phone", form.get("phone", ""))
        except InvalidArgument:
            return self._page("signin.html", 400, csrf_token=session.csrf_token, next=next_path,
                              phone=form.get("phone", "")[:40], error=ERRORS["phone"])
        try:
            challenge = await self.sms.send(phone, request.client.host if request.client else "unknown")
        except TooManyRequests as exc:
            return self._too_many(session, next_path, form.get("phone", ""), exc.retry_after)
        except SmsNotSent as exc:
            if exc.problem == BUSY:
                return self._too_many(session, next_path, form.get("phone", ""), exc.retry_after or 60)
            rejected = exc.problem == REJECTED
            return self._page("signin.html", 400 if rejected else 503, csrf_token=session.csrf_token,
                              next=next_path, phone=form.get("phone", "")[:40],
                              error=ERRORS[REJECTED if rejected else "sms_unavailable"])
        return self._code_page(session, next_path, challenge, phone)

    def _too_many(self, session: Session, next_path: str, phone: str, retry_after: int) -> HTMLResponse:
        return self._page("signin.html", 429, {"Retry-After": str(retry_after)}, csrf_token=session.csrf_token,
                          next=next_path, phone=phone[:40],
                          error=Text(f"请求过于频繁，请 {retry_after} 秒后再试。",
                                     f"Too many requests; try again in {retry_after} seconds."))

    def _code_page(self, session: Session, next_path: str, challenge: str, phone: str, status: int = 200,
                   error: Text | None = None) -> HTMLResponse:
        return self._page("code.html", status, csrf_token=session.csrf_token, next=next_path, challenge=challenge,
                          masked_phone=masked_phone(phone), error=error,
                          minutes=int(self.sms.policy.ttl.total_seconds()) // 60)

    async def signin_code(self, request: Request) -> Response:
        session = await self._session(request)
        form = await self._form(request)
        next_path = safe_next(form.get("next", "/"))
        if session is None or not session.csrf_ok(form.get("csrf_token", "")):
            return RedirectResponse(f"/signin?{urlencode({'next': next_path})}", status_code=303)
        result = await self.sms.confirm(form.get("challenge", "")[:64], form.get("code", "").strip()[:12])
        if result.problem:
            if result.problem == "wrong":
                return self._code_page(session, next_path, form.get("challenge", ""), "", 400, ERRORS["wrong"])
            fresh = session
            return self._page("signin.html", 400, csrf_token=fresh.csrf_token, next=next_path, phone="",
                              error=ERRORS[result.problem])
        async with self.db.transaction() as db_session:
            account = await self.accounts.sign_in_account(db_session, result.phone, signup=self.self_signup)
        if account is None:
            return self._page("signin.html", 403, csrf_token=session.csrf_token, next=next_path, phone="",
                              error=ERRORS["no_account"])
        if account.status != ACTIVE:
            return self._page("signin.html", 403, csrf_token=session.csrf_token, next=next_path, phone="",
                              error=ERRORS["disabled"])
        signed_in = await self.sessions.start(account.id, replacing=session.cookie)
        return self._set_cookie(RedirectResponse(next_path, status_code=303), signed_in)

    async def signout(self, request: Request) -> Response:
        session = await self._session(request)
        form = await self._form(request)
        if session is not None and session.csrf_ok(form.get("csrf_token", "")):
            await self.sessions.end(session.cookie)
        response = RedirectResponse(f"/signin?{urlencode({'next': safe_next(form.get('next', '/'))})}", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- the authorization endpoint ---------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params) if request.method == "GET" else await self._form(request)
        try:
            checked = await self.oauth.check_authorize(params)
        except AuthorizeError as exc:
            if exc.redirect_to:
                return RedirectResponse(exc.redirect_to, status_code=303)
            return self._message(Text("无法登录", "Sign-in cannot start"), Text(exc.description, exc.description),
                                 status=400, kind="error")
        signed_in = await self._signed_in(request)
        if signed_in is None:
            if request.method == "POST":
                return RedirectResponse(f"/oauth/authorize?{urlencode(checked.as_form())}", status_code=303)
            return self._to_signin(request)
        session, name = signed_in
        if request.method == "GET":
            return self._consent(checked, session, name)
        if not session.csrf_ok(params.get("csrf_token", "")):
            return self._consent(checked, session, name, status=400)
        if params.get("decision") != "approve":
            return RedirectResponse(self.oauth.error_redirect(checked.redirect_uri, "access_denied",
                                                              "the person cancelled the sign-in", checked.state),
                                    status_code=303)
        try:
            target = await self.oauth.approve(checked, session.account_id or "")
        except OAuthError:
            return self._message(Text("账号不可用", "Account unavailable"), ERRORS["disabled"], status=403,
                                 kind="error")
        return RedirectResponse(target, status_code=303)

    def _consent(self, checked: AuthorizeRequest, session: Session, name: str, status: int = 200) -> HTMLResponse:
        form = checked.as_form()
        return self._page("consent.html", status, client_name=checked.client.display_name, account_name=name,
                          csrf_token=session.csrf_token, params=form,
                          this_url=f"/oauth/authorize?{urlencode(form)}")

    # -- the device page --------------------------------------------------------------------------

    async def device(self, request: Request) -> Response:
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return self._to_signin(request)
        session, name = signed_in
        if request.method == "GET":
            code = request.query_params.get("user_code", "")[:20]
            return self._page("device.html", csrf_token=session.csrf_token, account_name=name, user_code=code)
        form = await self._form(request)
        code = form.get("user_code", "")[:20]
        if not session.csrf_ok(form.get("csrf_token", "")):
            return self._page("device.html", 400, csrf_token=session.csrf_token, account_name=name, user_code=code,
                              error=ERRORS["csrf"])
        approve = form.get("decision") == "approve"
        async with self.db.transaction() as db_session:
            decided = await self.devices.decide(db_session, code, account_id=session.account_id or "",
                                                approve=approve)
        if not decided:
            return self._page("device.html", 400, csrf_token=session.csrf_token, account_name=name, user_code=code,
                              error=ERRORS["user_code"])
        if approve:
            return self._message(Text("设备已登录", "Device signed in"),
                                 Text("可以回到命令行继续操作了。", "You can go back to the command line."),
                                 session=session, account_name=name)
        return self._message(Text("已拒绝", "Denied"), Text("该设备不会登录。", "The device will not be signed in."),
                             session=session, account_name=name)
