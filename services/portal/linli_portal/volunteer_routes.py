"""The volunteers' routes of "我的" (volunteer.py): my points, my member code, rewards and my
redemptions, my family/team/pairing and awards — each page with its JSON twin under /api/me,
both scoped to the signed-in account (the services check it again: every read of a volunteer's
records carries the person's own token). Read-only pages: nothing here needs JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from linli_portal import residents, volunteer
from linli_portal.backends import Backends
from linli_portal.operators import token_of, verify
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument
from linli_runtime.oidc import TokenVerifier
from linli_runtime.times import local_day

Page = Callable[..., HTMLResponse]
ErrorPage = Callable[[Request, int, str, str], HTMLResponse]


def mount(app: FastAPI, b: Backends, verifier: TokenVerifier, page: Page, error_page: ErrorPage,
          now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    async def mine_of(request: Request) -> tuple[residents.Me, list[volunteer.MyVolunteer]]:
        token = token_of(request)
        me = await residents.load_me(b, token, await verify(verifier, token))
        return me, await volunteer.my_volunteers(b, me)

    def vpage(request: Request, name: str, me: residents.Me, mine: list[volunteer.MyVolunteer], vtab: str,
              **context: object) -> HTMLResponse:
        return page(request, name, me=me, mine=mine, tab="volunteer", vtab=vtab, v=volunteer, notice="",
                    **context)

    # -- my points -------------------------------------------------------------------------------

    @app.get("/me/points", response_class=HTMLResponse)
    async def my_points(request: Request) -> Response:
        me, mine = await mine_of(request)
        return vpage(request, "me_points.html", me, mine, "points",
                     rows=[await volunteer.points_of(b, me, m) for m in mine])

    @app.get("/api/me/points")
    async def my_points_json(request: Request) -> Response:
        me, mine = await mine_of(request)
        return JSONResponse({"volunteers": [(await volunteer.points_of(b, me, m)).as_json() for m in mine]})

    # -- my member code --------------------------------------------------------------------------

    @app.get("/me/member-code", response_class=HTMLResponse)
    async def my_member_code(request: Request) -> Response:
        me, mine = await mine_of(request)
        codes = [await volunteer.member_code_of(b, me, m) for m in mine]
        refresh = min((volunteer.refresh_seconds(c.expire_time, now()) for c in codes), default=0)
        return vpage(request, "me_member_code.html", me, mine, "code", codes=codes, refresh=refresh)

    @app.get("/api/me/member-code")
    async def my_member_code_json(request: Request) -> Response:
        me, mine = await mine_of(request)
        return JSONResponse({"member_codes": [(await volunteer.member_code_of(b, me, m)).as_json() for m in mine]})

    # -- rewards and my redemptions --------------------------------------------------------------

    @app.get("/me/rewards", response_class=HTMLResponse)
    async def my_rewards(request: Request) -> Response:
        me, mine = await mine_of(request)
        return vpage(request, "me_rewards.html", me, mine, "rewards",
                     rows=[await volunteer.rewards_of(b, me, m, now()) for m in mine])

    @app.get("/api/me/rewards")
    async def my_rewards_json(request: Request) -> Response:
        me, mine = await mine_of(request)
        return JSONResponse({"volunteers": [(await volunteer.rewards_of(b, me, m, now())).as_json() for m in mine]})

    # -- my family, team, pairing and awards -----------------------------------------------------

    @app.get("/me/team", response_class=HTMLResponse)
    async def my_team(request: Request) -> Response:
        me, mine = await mine_of(request)
        year = local_day(now()).year
        return vpage(request, "me_team.html", me, mine, "team",
                     rows=[await volunteer.circle_of(b, me, m, year) for m in mine])

    @app.get("/api/me/team")
    async def my_team_json(request: Request) -> Response:
        me, mine = await mine_of(request)
        year = local_day(now()).year
        return JSONResponse({"volunteers": [(await volunteer.circle_of(b, me, m, year)).as_json() for m in mine]})

    @app.get("/me/awards/{year}/certificate.pdf")
    async def my_certificate(request: Request, year: int, community: str = "") -> Response:
        """The award certificate of the person's own volunteer record in `community` (drawn by
        volunteer-points, which checks the token once more)."""
        me, mine = await mine_of(request)
        try:
            path = normalize_path(community)
        except InvalidArgument:
            path = ""
        found = next((m for m in mine if m.community_path == path), None)
        if found is None:
            return error_page(request, 404, "您在这个社区没有志愿者记录。",
                              "You have no volunteer record in this community.")
        drawn = await volunteer.certificate(b, me, found, year)
        return Response(drawn.pdf_content, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{drawn.filename}"'})
