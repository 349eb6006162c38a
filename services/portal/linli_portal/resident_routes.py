"""The residents' routes ("我的" / My page, residents.py), each page with its JSON twin under
/api/me. Forms post back to the portal and answer with a redirect (303) or the page with the
problem shown, so everything works without JavaScript; each form carries a request id minted
when the page was rendered, so a double tap files once."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from linli.governance.v1 import disclosure_pb2, vote_pb2
from linli.notification.v1 import notification_pb2 as npb
from linli_portal import household_claims, residents, sealed
from linli_portal.backends import Backends
from linli_portal.operators import token_of, verify
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument
from linli_runtime.oidc import TokenVerifier

Page = Callable[..., HTMLResponse]
ErrorPage = Callable[[Request, int, str, str], HTMLResponse]
ACCOUNT = re.compile(r"^acc_[a-z2-7]{20}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def mount(app: FastAPI, b: Backends, verifier: TokenVerifier, page: Page, error_page: ErrorPage) -> None:
    async def me_of(request: Request) -> residents.Me:
        token = token_of(request)
        return await residents.load_me(b, token, await verify(verifier, token))

    def back(path: str, notice: str = "") -> RedirectResponse:
        return RedirectResponse(path + (f"?notice={quote(notice)}" if notice else ""), status_code=303)

    def problem(exc: grpc.aio.AioRpcError) -> str:
        return str(exc.details() or exc.code().name)

    # -- my page ---------------------------------------------------------------------------------

    @app.get("/me", response_class=HTMLResponse)
    async def my_page(request: Request, notice: str = "", renew: str = "") -> Response:
        me = await me_of(request)
        claims = await household_claims.mine(b, me)
        if renew != household_claims.RENEW and household_claims.stale(me, claims):
            return RedirectResponse(f"/me?renew={household_claims.RENEW}", status_code=303)  # a claim approved
        waiting = [c for c in claims if c.household_path not in {h.path for h in me.owned}]
        return page(request, "me.html", me=me, notice=notice, request_id=new_request_id(), claims=waiting,
                    claim_states=household_claims.STATES, claim_labels=await household_claims.labels(b, waiting))

    @app.get("/api/me")
    async def my_json(request: Request) -> Response:
        me = await me_of(request)
        return JSONResponse({"account": me.account_id, "name": me.display_name,
                             "households": [h.as_json() for h in me.households]})

    @app.post("/me/members", response_class=HTMLResponse)
    async def add_member(request: Request, household: str = Form(""), account: str = Form(""),
                         relation: str = Form("family")) -> Response:
        me = await me_of(request)
        home = me.household(household)
        account = account.strip().removeprefix("accounts/")
        error = ""
        if home is None or not home.is_owner:
            error = ("只有业主可以为本户添加家庭成员或租户。 "
                     "Only the owner adds family members or tenants to a household.")
        elif not ACCOUNT.match(account):
            error = "请填写对方“我的”页面上显示的账号（acc_ 开头）。 Enter the account shown on their My page (acc_…)."
        elif account == me.account_id:
            error = "不能添加自己。 You cannot add yourself."
        if not error:
            reason = "租户 tenant" if relation == "tenant" else "家庭成员 family member"
            try:
                await residents.add_member(b, me, household, account, f"{reason}, added by the owner")
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
                                      grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                                      grpc.StatusCode.FAILED_PRECONDITION):
                    raise
                error = f"未能添加 Not added: {problem(exc)}"
        if error:
            return page(request, "me.html", 422, me=me, notice="", member_error=error, request_id=new_request_id())
        return back("/me", "已添加，对方重新登录后可见。 Added: they see the household after signing in again.")

    # -- votes -----------------------------------------------------------------------------------

    @app.get("/me/votes", response_class=HTMLResponse)
    async def my_votes(request: Request, notice: str = "") -> Response:
        me = await me_of(request)
        rows = await residents.votes_of(b, me)
        return page(request, "me_votes.html", me=me, rows=rows, notice=notice, choices=residents.CHOICE_NAMES,
                    request_id=new_request_id())

    @app.get("/api/me/votes")
    async def my_votes_json(request: Request) -> Response:
        me = await me_of(request)
        return JSONResponse({"votes": [r.as_json() for r in await residents.votes_of(b, me)]})

    @app.post("/me/votes/ballot", response_class=HTMLResponse)
    async def cast(request: Request, vote: str = Form(""), household: str = Form(""), choice: str = Form(""),
                   request_id: str = Form("")) -> Response:
        me = await me_of(request)
        home = me.household(household)
        if home is None or not home.is_owner or choice not in residents.CHOICES:
            rows = await residents.votes_of(b, me)
            return page(request, "me_votes.html", 422, me=me, rows=rows, notice="", choices=residents.CHOICE_NAMES,
                        error="请选择赞成、反对或弃权。 Choose for, against or abstain.", request_id=new_request_id())
        try:
            await b.votes.CastBallot(vote_pb2.CastBallotRequest(
                vote=vote, household_path=household, choice=residents.CHOICES[choice],
                channel=vote_pb2.BALLOT_CHANNEL_ONLINE, request_id=request_id or new_request_id()), **me.md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS,
                                  grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                raise
            rows = await residents.votes_of(b, me)
            return page(request, "me_votes.html", 409, me=me, rows=rows, notice="", choices=residents.CHOICE_NAMES,
                        error=f"投票未成功 Not recorded: {problem(exc)}", request_id=new_request_id())
        name = residents.CHOICE_NAMES[residents.CHOICES[choice]]
        return back("/me/votes", f"已记录您的选择：{name[0]}（截止前可以更改） "
                                 f"Recorded: {name[1]} (changeable until the close)")

    # -- objections ------------------------------------------------------------------------------

    @app.get("/me/objections", response_class=HTMLResponse)
    async def my_objections(request: Request, notice: str = "") -> Response:
        me = await me_of(request)
        rows, by_compound = await residents.objections_of(b, me)
        return page(request, "me_objections.html", me=me, rows=rows, by_compound=by_compound, notice=notice,
                    request_id=new_request_id())

    @app.get("/api/me/objections")
    async def my_objections_json(request: Request) -> Response:
        me = await me_of(request)
        rows, _ = await residents.objections_of(b, me)
        return JSONResponse({"objections": [r.as_json() for r in rows]})

    @app.post("/me/objections", response_class=HTMLResponse)
    async def object_to(request: Request, household: str = Form(""), disclosure: str = Form(""),
                        kind: str = Form("objection"), text: str = Form(""), request_id: str = Form("")) -> Response:
        me = await me_of(request)
        home = me.household(household)
        text = text.strip()
        error = ""
        of_compound = home is not None and disclosure.startswith(residents.compound_name(home.compound_path) + "/")
        if home is None or not home.is_owner or not of_compound:
            error = "请选择您房屋所在小区的一期公示。 Choose a disclosure of your compound."
        elif not 4 <= len(text) <= 2000:
            error = "请写明您的问题（4–2000字）。 Say what you are asking about (4–2,000 characters)."
        if not error:
            try:
                await b.disclosures.FileObjection(disclosure_pb2.FileObjectionRequest(
                    disclosure=disclosure, household_path=household, text=text,
                    kind=disclosure_pb2.OBJECTION_KIND_INSPECTION if kind == "inspection"
                    else disclosure_pb2.OBJECTION_KIND_OBJECTION,
                    request_id=request_id or new_request_id()), **me.md)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                                      grpc.StatusCode.NOT_FOUND):
                    raise
                error = f"未能提交 Not filed: {problem(exc)}"
        if error:
            rows, by_compound = await residents.objections_of(b, me)
            return page(request, "me_objections.html", 422, me=me, rows=rows, by_compound=by_compound, notice="",
                        error=error, request_id=new_request_id(), text=text)
        return back("/me/objections", "已提交，受托人须在15天内答复。 Filed: the trustee answers within 15 days.")

    # -- help ------------------------------------------------------------------------------------

    @app.get("/me/help", response_class=HTMLResponse)
    async def my_help(request: Request, notice: str = "") -> Response:
        me = await me_of(request)
        found = await residents.help_requests_of(b, me)
        return page(request, "me_help.html", me=me, requests=found, notice=notice, request_id=new_request_id(),
                    categories=residents.HELP_CATEGORIES, statuses=residents.STATUS_NAMES)

    @app.get("/api/me/help")
    async def my_help_json(request: Request) -> Response:
        me = await me_of(request)
        return JSONResponse({"help_requests": [residents.help_json(r)
                                               for _, r in await residents.help_requests_of(b, me)]})

    @app.post("/me/help", response_class=HTMLResponse)
    async def ask_for_help(request: Request, household: str = Form(""), community: str = Form(""),
                           category: str = Form(""), description: str = Form(""), contact: str = Form(""),
                           on_behalf_of: str = Form(""), unit: str = Form(""),
                           request_id: str = Form("")) -> Response:
        me = await me_of(request)
        description, contact, on_behalf_of, unit = (description.strip(), contact.strip(), on_behalf_of.strip(),
                                                    unit.strip().strip("/"))
        error = ""
        home = me.household(household) if household else None
        if home is not None:
            community_path, household_path, role = home.community_path, home.path, npb.REPORTER_ROLE_RESIDENT
        elif community and community in me.staff_communities:
            # Staff (or the canteen) on someone's behalf: their name and how to reach them, and
            # their home when known (`compound/building/unit` within the community).
            community_path, role = community, npb.REPORTER_ROLE_WORKER
            household_path = f"{community}/{unit}" if unit else ""
            if not on_behalf_of or not contact:
                error = "请填写求助人姓名和联系方式。 Give the name of the person who needs help and how to reach them."
        else:
            community_path, household_path, role = "", "", npb.REPORTER_ROLE_RESIDENT
            error = "请选择您的房屋。 Choose your household."
        if category not in residents.HELP_CATEGORIES:
            error = error or "请选择需要哪类帮助。 Choose what kind of help is needed."
        if not 2 <= len(description) <= 2000:
            error = error or "请简单说明情况（2–2000字）。 Say briefly what is needed (2–2,000 characters)."
        if not error:
            if any(g.role == "resident" and g.scope.count("/") + 1 == residents.COMPOUND_DEPTH
                   for g in me.principal.grants) and role == npb.REPORTER_ROLE_WORKER:
                role = npb.REPORTER_ROLE_CANTEEN_STAFF
            try:
                reply = await b.help_requests.CreateHelpRequest(npb.CreateHelpRequestRequest(
                    parent=residents.community_name(community_path), request_id=request_id or new_request_id(),
                    help_request=npb.HelpRequest(category=category, description=description, contact=contact,
                                                 on_behalf_of=on_behalf_of, reporter_role=role,
                                                 urgency=npb.URGENCY_NORMAL, household_path=household_path)),
                    **me.md)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
                                      grpc.StatusCode.FAILED_PRECONDITION):
                    raise
                error = f"未能提交 Not filed: {problem(exc)}"
            else:
                if household_path and me.household(household_path):
                    return back(f"/me/help/{reply.help_request.name.rsplit('/', 1)[-1]}",
                                "已提交，已通知值班社工。 Filed: the worker on duty has been told.")
                return back("/me/help", "已提交，已通知值班社工。 Filed: the worker on duty has been told.")
        found = await residents.help_requests_of(b, me)
        return page(request, "me_help.html", 422, me=me, requests=found, notice="", error=error,
                    request_id=new_request_id(), categories=residents.HELP_CATEGORIES,
                    statuses=residents.STATUS_NAMES, description=description)

    async def one_request(me: residents.Me, ident: str) -> tuple[residents.Household, npb.HelpRequest] | None:
        for household, found in await residents.help_requests_of(b, me):
            if found.name.rsplit("/", 1)[-1] == ident:
                full = await b.help_requests.GetHelpRequest(npb.GetHelpRequestRequest(name=found.name), **me.md)
                return household, full.help_request
        return None

    @app.get("/me/help/{ident}", response_class=HTMLResponse)
    async def my_request(request: Request, ident: str, notice: str = "") -> Response:
        me = await me_of(request)
        found = await one_request(me, ident)
        if found is None:
            return error_page(request, 404, "没有找到这条求助。", "No such help request of your household.")
        return page(request, "me_help_request.html", me=me, home=found[0], r=found[1], notice=notice,
                    request_id=new_request_id(), statuses=residents.STATUS_NAMES,
                    categories=residents.HELP_CATEGORIES, thankable=found[1].status in residents.THANKABLE)

    @app.get("/api/me/help/{ident}")
    async def my_request_json(request: Request, ident: str) -> Response:
        me = await me_of(request)
        found = await one_request(me, ident)
        if found is None:
            return JSONResponse({"error": "NOT_FOUND", "message": "no such help request of your household"},
                                status_code=404)
        return JSONResponse(residents.help_json(found[1]))

    @app.post("/me/help/{ident}/thanks", response_class=HTMLResponse)
    async def thank(request: Request, ident: str, kind: str = Form("message"), text: str = Form(""),
                    signed: str = Form(""), request_id: str = Form("")) -> Response:
        me = await me_of(request)
        found = await one_request(me, ident)
        if found is None:
            return error_page(request, 404, "没有找到这条求助。", "No such help request of your household.")
        text, signed = text.strip(), signed.strip()[:200]
        error = "" if 2 <= len(text) <= 1000 else "请写下感谢的话（2–1000字）。 Write your thanks (2–1,000 characters)."
        if not error:
            thanks = npb.Thanks(kind="banner" if kind == "banner" else "message", text=text)
            setattr(thanks, "from", signed or me.display_name)
            try:
                await b.help_requests.RecordThanks(npb.RecordThanksRequest(
                    name=found[1].name, thanks=thanks, request_id=request_id or new_request_id()), **me.md)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                    raise
                error = f"未能记录 Not recorded: {problem(exc)}"
        if error:
            return page(request, "me_help_request.html", 422, me=me, home=found[0], r=found[1], notice="",
                        error=error, request_id=new_request_id(), statuses=residents.STATUS_NAMES,
                        categories=residents.HELP_CATEGORIES, thankable=found[1].status in residents.THANKABLE)
        return back(f"/me/help/{ident}", "谢谢！您的感谢会显示在社区页面上。 "
                                         "Thank you: it shows on the community's page.")

    # -- inbox -----------------------------------------------------------------------------------

    @app.get("/me/inbox", response_class=HTMLResponse)
    async def my_inbox(request: Request, notice: str = "") -> Response:
        me = await me_of(request)
        notices, prefs = await residents.inbox_of(b, me)
        return page(request, "me_inbox.html", me=me, notices=notices, prefs=prefs, notice=notice,
                    channels=residents.CHANNELS)

    @app.get("/api/me/inbox")
    async def my_inbox_json(request: Request) -> Response:
        me = await me_of(request)
        notices, prefs = await residents.inbox_of(b, me)
        return JSONResponse({"notices": [residents.notice_json(n) for n in notices],
                             "preferences": {"channels": list(prefs.channels), "quiet_start": prefs.quiet_start,
                                             "quiet_end": prefs.quiet_end, "language": prefs.language}})

    @app.post("/me/inbox/read")
    async def mark_read(request: Request, notice_name: str = Form("")) -> Response:
        me = await me_of(request)
        if notice_name.startswith(f"recipients/{me.account_id}/notices/"):
            await b.inbox.MarkNoticeRead(npb.MarkNoticeReadRequest(name=notice_name), **me.md)
        return back("/me/inbox")

    @app.post("/me/inbox/preferences", response_class=HTMLResponse)
    async def preferences(request: Request) -> Response:
        me = await me_of(request)
        form = await request.form()
        _, current = await residents.inbox_of(b, me)
        channels = [c for c in form.getlist("channels") if isinstance(c, str) and c in residents.CHANNELS]
        quiet_start, quiet_end = str(form.get("quiet_start", "")).strip(), str(form.get("quiet_end", "")).strip()
        phone, language = str(form.get("phone", "")).strip(), str(form.get("language", "zh"))
        error = ""
        if bool(quiet_start) != bool(quiet_end) or any(t and not HHMM.match(t) for t in (quiet_start, quiet_end)):
            error = ("免打扰时段请填写开始和结束时间（如 22:00 和 07:00）。 "
                     "Give both quiet-hours times (e.g. 22:00 and 07:00).")
        elif "sms" in channels and not phone:
            error = "选择短信时请填写手机号。 Give a phone number for SMS."
        elif "wechat" in channels and not current.wechat_openid:
            error = "尚未绑定微信，暂不能选择微信。 WeChat is not linked to this account yet."
        # The compounds of my households I may subscribe to (their notices: disclosures, votes);
        # subscriptions made elsewhere (e.g. by the CLI) are kept as they are.
        mine = sorted({h.compound_path for h in me.households if h.compound_path})
        ticked = {p for p in form.getlist("subscribed") if isinstance(p, str) and p in mine}
        subscribed = [p for p in current.subscribed_paths if p not in mine] + sorted(ticked)
        if not error:
            prefs = npb.Preferences(
                name=f"recipients/{me.account_id}/preferences", language=language if language in ("zh", "en") else "zh",
                channels=channels, phone=phone, wechat_openid=current.wechat_openid, quiet_start=quiet_start,
                quiet_end=quiet_end, subscribed_paths=subscribed,
                utc_offset_minutes=current.utc_offset_minutes)
            try:
                await b.inbox.UpdatePreferences(npb.UpdatePreferencesRequest(preferences=prefs), **me.md)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                    raise
                error = f"未能保存 Not saved: {problem(exc)}"
        if error:
            notices, _ = await residents.inbox_of(b, me)
            # The form again as it was sent, with what to fix.
            sent = npb.Preferences(language=language, channels=channels, phone=phone, quiet_start=quiet_start,
                                   quiet_end=quiet_end, subscribed_paths=subscribed)
            return page(request, "me_inbox.html", 422, me=me, notices=notices, prefs=sent, notice="",
                        error=error, channels=residents.CHANNELS)
        return back("/me/inbox", "已保存。 Saved.")

    # -- public: a disclosure's lines, its download, the community's thanks ------------------------

    def clean(raw: str) -> str:
        try:
            return normalize_path(raw)
        except InvalidArgument:
            return "-"

    async def disclosure(path: str, period: str) -> disclosure_pb2.Disclosure:
        reply = await b.disclosures.GetDisclosure(disclosure_pb2.GetDisclosureRequest(
            name=f"{residents.compound_name(path)}/disclosures/{period}"))
        found: disclosure_pb2.Disclosure = reply.disclosure
        return found

    @app.get("/d/{raw_path:path}/{period}.json")
    async def download(raw_path: str, period: str) -> Response:
        """The full sealed content, for `python -m linli_verify FILE`."""
        d = await disclosure(clean(raw_path), period)
        return Response(sealed.file_bytes(d), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{sealed.file_name(d)}"'})

    @app.get("/d/{raw_path:path}/{period}", response_class=HTMLResponse)
    async def disclosure_page(request: Request, raw_path: str, period: str) -> Response:
        d = await disclosure(clean(raw_path), period)
        return page(request, "disclosure.html", d=d)

    @app.get("/vouchers/{raw_path:path}/{sha256}")
    async def voucher(request: Request, raw_path: str, sha256: str) -> Response:
        """A voucher, for the compound's owners (their own token: governance checks it)."""
        from linli.governance.v1 import account_pb2

        me = await me_of(request)
        reply = await b.accounts.GetVoucher(account_pb2.GetVoucherRequest(
            name=f"{residents.compound_name(clean(raw_path))}/vouchers/{sha256}"), **me.md)
        return Response(reply.content, media_type=reply.voucher.media_type or "application/octet-stream",
                        headers={"Content-Disposition": f'inline; filename="{sha256[:12]}"'})

    @app.get("/community/{raw_path:path}", response_class=HTMLResponse)
    async def community_page(request: Request, raw_path: str) -> Response:
        from linli.governance.v1 import org_pb2

        path = clean(raw_path)
        unit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path))).org_unit
        reply = await b.help_requests.ListCommunityThanks(npb.ListCommunityThanksRequest(
            parent=residents.community_name(path), page_size=20))
        return page(request, "community.html", unit=unit, thanks=list(reply.thanks),
                    categories=residents.HELP_CATEGORIES)

    @app.get("/api/community/{raw_path:path}")
    async def community_json(raw_path: str) -> Response:
        path = clean(raw_path)
        reply = await b.help_requests.ListCommunityThanks(npb.ListCommunityThanksRequest(
            parent=residents.community_name(path), page_size=20))
        return JSONResponse({"community_path": path, "thanks": [
            {"kind": t.kind, "text": t.text, "from": getattr(t, "from"), "category": t.category,
             "helper_count": t.helper_count, "record_time": t.record_time.ToJsonString()} for t in reply.thanks]})

