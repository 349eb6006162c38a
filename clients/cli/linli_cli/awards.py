"""`linli leaderboard` and `linli year close | certificate`: points earned ranked by volunteer,
family or team (AwardService.ListRankings, summed by family or team here), the year-end "Red
Maple Guardian" awards (AwardService.CloseYear, idempotent) and an award's certificate, a PDF
in Chinese (AwardService.GetAwardCertificate).

`year close` given a wider place (a street, a district, a city) closes the year in every
community below it, 100 communities a call (AwardService.CloseYears) with a progress bar
counting the communities: closing is idempotent, so a run stopped half-way is finished by
running it again."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.events.v1 import points_pb2 as events
from linli.governance.v1 import org_pb2, org_pb2_grpc
from linli.points.v1 import awards_pb2, awards_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli_cli import names, session
from linli_cli.errors import CliError, ExitCode
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, emit, enum_name, progress, titled, today
from linli_cli.volunteers import POINTS, Community, all_volunteers

year_app = typer.Typer(help="Year-end close and awards.", no_args_is_help=True)
CERTIFICATE_DEADLINE = 60.0  # seconds
MEDALS = {"gold": N_("🥇 gold"), "silver": N_("🥈 silver"), "bronze": N_("🥉 bronze")}


BY_HEADERS = (N_("volunteer"), N_("family"), N_("team"))  # a ranking's second column: By's values


class By(StrEnum):
    VOLUNTEER = "volunteer"
    FAMILY = "family"
    TEAM = "team"


async def rankings(c: session.Client, path: str, period: str, team_id: str = "") -> list[awards_pb2.Ranking]:
    stub = c.stub(awards_pb2_grpc.AwardServiceStub)

    async def page(tok: str) -> tuple[list[awards_pb2.Ranking], str]:
        r = await c.call(stub.ListRankings, awards_pb2.ListRankingsRequest(
            community_path=path, period=period, team_id=team_id, page_size=1000, page_token=tok))
        return list(r.rankings), r.next_page_token

    return await session.pages(page)


def ranked(totals: dict[str, tuple[str, int]]) -> list[dict[str, Any]]:
    """Rows by points descending, ties sharing a rank (1, 2, 2, 4) as the service ranks."""
    ordered = sorted(((p, key, name) for key, (name, p) in totals.items() if p > 0), key=lambda x: (-x[0], x[1]))
    rows: list[dict[str, Any]] = []
    for position, (points, key, name) in enumerate(ordered, start=1):
        rank = rows[-1]["rank"] if rows and rows[-1]["points_earned"] == points else position
        rows.append({"rank": rank, "id": key, "display_name": name, "points_earned": points})
    return rows


async def board(c: session.Client, path: str, period: str, by: By) -> list[dict[str, Any]]:
    if by is By.VOLUNTEER:
        return [{"rank": r.rank, "id": r.volunteer_id, "display_name": r.display_name,
                 "points_earned": r.points_earned} for r in await rankings(c, path, period)]
    stub = c.stub(volunteers_pb2_grpc.VolunteerServiceStub)
    if by is By.FAMILY:
        board_rows, people = await asyncio.gather(rankings(c, path, period), all_volunteers(c, path))

        async def page(tok: str) -> tuple[list[volunteers_pb2.Family], str]:
            r = await c.call(stub.ListFamilies, volunteers_pb2.ListFamiliesRequest(
                community_path=path, page_size=1000, page_token=tok))
            return list(r.families), r.next_page_token

        family_names = {f.family_id: f.display_name for f in await session.pages(page)}
        family_of = {v.volunteer_id: v.family_id for v in people}
        totals: dict[str, tuple[str, int]] = {}
        for r in board_rows:
            family = family_of.get(r.volunteer_id)
            if family:
                name, points = totals.get(family, (family_names.get(family, ""), 0))
                totals[family] = (name, points + r.points_earned)
        return ranked(totals)

    async def team_page(tok: str) -> tuple[list[volunteers_pb2.Team], str]:
        r = await c.call(stub.ListTeams, volunteers_pb2.ListTeamsRequest(community_path=path, page_size=1000,
                                                                         page_token=tok))
        return list(r.teams), r.next_page_token

    teams = await session.pages(team_page)
    boards = await asyncio.gather(*(rankings(c, path, period, t.team_id) for t in teams))
    return ranked({t.team_id: (t.display_name, sum(r.points_earned for r in b)) for t, b in zip(teams, boards,
                                                                                                 strict=True)})


@exportable
def leaderboard(community: Community,
                year: Annotated[int | None, typer.Option(help="Year (default: this year).", min=2000, max=2200)] = None,
                by: Annotated[By, typer.Option(help="Rank volunteers, families or teams.")] = By.VOLUNTEER,
                limit: Annotated[int, typer.Option(help="Show the first N (0: all).", min=0)] = 20,
                token: Token = None, as_json: Json = False) -> None:
    """Points earned in a year, ranked (ties share a rank)."""
    path = names.org_path(community, "COMMUNITY")
    period = str(year or today().year)

    async def fetch() -> list[dict[str, Any]]:
        async with session.client(POINTS, token) as c:
            return await board(c, path, period, by)

    rows = session.run(fetch())
    shown = rows[:limit] if limit else rows
    data = {"community_path": path, "year": int(period), "by": by.value, "count": len(rows), "rankings": shown}

    def render(out: Console) -> None:
        if not rows:
            out.print(_("{path}: no points earned in {period}").format(path=path, period=period))
            return
        table = titled(_("{path} — {period} by {by} (top {shown} of {count})").format(
            path=path, period=period, by=_(by.value), shown=len(shown), count=len(rows)))
        for column in ("rank", by.value, "name", "points"):
            table.add_column(column, justify="right" if column in ("rank", "points") else "left")
        for r in shown:
            table.add_row(str(r["rank"]), r["id"], r["display_name"], f"{r['points_earned']:,}")
        out.print(table)

    emit(as_json, data, render)


def award_dict(a: awards_pb2.Award) -> dict[str, Any]:
    return {"rank": a.rank, "tier": enum_name(events.AwardTier.Name(a.tier), "AWARD_TIER_"),
            "volunteer_id": a.volunteer_id, "display_name": a.display_name, "points_earned": a.points_earned}


@year_app.command("close")
def close(community: Community,
          year: Annotated[int, typer.Option(help="The year to close (it must have ended).", min=2000, max=2200)],
          gold: Annotated[int, typer.Option(help="Ranks given gold (with --silver/--bronze; default 1, 2, 3).",
                                            min=0, max=1000)] = 0,
          silver: Annotated[int, typer.Option(min=0, max=1000, help="Ranks given silver.")] = 0,
          bronze: Annotated[int, typer.Option(min=0, max=1000, help="Ranks given bronze.")] = 0,
          token: Token = None, as_json: Json = False) -> None:
    """Close a year: freeze its ranking and grant the Red Maple Guardian awards. Closing a
    closed year changes nothing and shows the same awards. Given a street, a district or a
    city, the year is closed in every community below it, community by community."""
    path = names.org_path(community, "COMMUNITY")
    if len(path.split("/")) < names.COMMUNITY_DEPTH:
        close_below(path, year, (gold, silver, bronze), token, as_json)
        return

    async def work() -> awards_pb2.CloseYearResponse:
        async with session.client(POINTS, token) as c:
            stub = c.stub(awards_pb2_grpc.AwardServiceStub)
            with progress(not as_json) as bar:
                task = bar.add_task(_("closing {year} for {path}").format(year=year, path=path), total=3)
                bar.update(task, description=_("reading the {year} ranking").format(year=year))
                board_rows = await rankings(c, path, str(year))
                bar.update(task, advance=1, description=_("granting awards among {count} ranked volunteers").format(
                    count=len(board_rows)))
                reply = await c.call(stub.CloseYear, awards_pb2.CloseYearRequest(
                    community_path=path, year=year, gold_count=gold, silver_count=silver, bronze_count=bronze))
                bar.update(task, advance=1, description=_("awards recorded"))
                bar.update(task, advance=1)
            return reply  # type: ignore[no-any-return]

    reply = session.run(work())
    granted = [award_dict(a) for a in reply.awards]
    data = {"community_path": path, "year": year, "newly_closed": reply.newly_closed, "awards": granted}

    def render(out: Console) -> None:
        head = (_("[bold]{year} closed[/] for {path}: {count} award(s)") if reply.newly_closed else
                _("{year} was already closed for {path}; its {count} award(s) stand")).format(
            year=year, path=path, count=len(granted))
        out.print(head)
        if granted:
            table = titled(f"金银铜牌·红枫卫士 {year}")
            for column in ("rank", "tier", "volunteer", "name", "points"):
                table.add_column(column, justify="right" if column in ("rank", "points") else "left")
            for a in granted:
                table.add_row(str(a["rank"]), _(MEDALS.get(a["tier"], a["tier"])), a["volunteer_id"], a["display_name"],
                              f"{a['points_earned']:,}")
            out.print(table)

    emit(as_json, data, render)


@year_app.command("certificate")
def certificate(community: Community,
                year: Annotated[int, typer.Option(help="The closed year of the award.", min=2000, max=2200)],
                volunteer: Annotated[str, typer.Option(help="The Guardian's volunteer id, e.g. v-065.")],
                out_file: Annotated[Path | None, typer.Option(
                    "--out", "-o", metavar="FILE", help="Where to write the PDF (default: its own file name, "
                    "e.g. fengshu-2025-gold-v-065.pdf, in this folder).")] = None,
                token: Token = None, as_json: Json = False) -> None:
    """Save a Red Maple Guardian's certificate (荣誉证书, a PDF in Chinese) of a closed year."""
    path = names.org_path(community, "COMMUNITY")

    async def fetch() -> awards_pb2.GetAwardCertificateResponse:
        async with session.client(POINTS, token) as c:
            stub = c.stub(awards_pb2_grpc.AwardServiceStub)
            # The first request draws the PDF (WeasyPrint, seconds on a busy server); later ones
            # read it back: a longer deadline than a list's.
            return await c.call(stub.GetAwardCertificate, awards_pb2.GetAwardCertificateRequest(  # type: ignore[no-any-return]
                community_path=path, year=year, volunteer_id=volunteer), timeout=CERTIFICATE_DEADLINE)

    r = session.run(fetch())
    target = out_file or Path(Path(r.filename).name)  # the service's name, never a path it chose
    target.write_bytes(r.pdf_content)
    data = {"community_path": path, "year": year, "volunteer_id": volunteer, "file": str(target),
            "bytes": len(r.pdf_content), "sha256": r.sha256}
    emit(as_json, data, lambda out: out.print(
        _("{year} certificate of {volunteer} saved to [bold]{file}[/] ({size} bytes, sha256 {sha}…)").format(
            year=year, volunteer=volunteer, file=target, size=f"{len(r.pdf_content):,}", sha=r.sha256[:12])))


GOVERNANCE = "trust-governance"


async def communities_below(path: str, token: str | None) -> list[str]:
    """The communities below a wider place, from trust-governance's org tree, in path order."""
    async with session.client(GOVERNANCE, token) as c:
        org = c.stub(org_pb2_grpc.OrgServiceStub)
        level: list[org_pb2.OrgUnit] = []
        parents = [path]
        for _depth in range(len(path.split("/")), names.COMMUNITY_DEPTH):
            level = []
            for parent in parents:
                async def page(tok: str, parent: str = parent) -> tuple[list[org_pb2.OrgUnit], str]:
                    r = await c.call(org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(
                        parent_path=parent, page_size=500, page_token=tok))
                    return list(r.org_units), r.next_page_token

                level += await session.pages(page)
            parents = [u.path for u in level]
        return sorted(u.path for u in level if u.kind == org_pb2.ORG_UNIT_KIND_COMMUNITY)


CLOSES_PER_CALL = 100  # AwardService.CloseYears takes up to 100 communities
CLOSE_CALLS_IN_FLIGHT = 2


def close_below(path: str, year: int, counts: tuple[int, int, int], token: str | None, as_json: bool) -> None:
    """`year close` for every community below `path`: CloseYears, 100 communities a call, two
    calls in flight (a city of 5 000 communities is 50 calls)."""
    gold, silver, bronze = counts

    async def work() -> list[awards_pb2.CloseYearsResult]:
        found = await communities_below(path, token)
        if not found:
            raise CliError(_("not found: no community below {path}").format(path=path), ExitCode.NOT_FOUND)
        batches = [found[i:i + CLOSES_PER_CALL] for i in range(0, len(found), CLOSES_PER_CALL)]
        answered: dict[int, list[awards_pb2.CloseYearsResult]] = {}
        async with session.client(POINTS, token) as c:
            stub = c.stub(awards_pb2_grpc.AwardServiceStub)
            with progress(not as_json) as bar:
                task = bar.add_task(_("closing {year} below {path}").format(year=year, path=path), total=len(found))
                queue = iter(enumerate(batches))

                async def closer() -> None:
                    for n, batch in queue:
                        try:
                            reply = await c.call(stub.CloseYears, awards_pb2.CloseYearsRequest(
                                community_paths=batch, year=year, gold_count=gold, silver_count=silver,
                                bronze_count=bronze))
                        except CliError as exc:
                            done = sum(len(r) for r in answered.values())
                            exc.message = _("{community}: {reason}; {count} of {total} communities closed before it "
                                            "(run again to close the rest: closing is idempotent)").format(
                                community=batch[0], reason=exc.message, count=done, total=len(found))
                            raise
                        answered[n] = list(reply.results)
                        bar.update(task, advance=len(batch))

                await asyncio.gather(*(closer() for _ in range(CLOSE_CALLS_IN_FLIGHT)))
        results = [r for n in sorted(answered) for r in answered[n]]
        refused = [r for r in results if r.refusal.code]
        if refused:
            first = refused[0]
            raise CliError(_("{count} of {total} communities refused: {first}: {reason} (the others are closed)")
                           .format(count=len(refused), total=len(results), first=first.community_path,
                                   reason=first.refusal.message))
        return results

    closed = session.run(work())
    data = {"path": path, "year": year, "count": len(closed),
            "communities": [{"community_path": r.community_path, "newly_closed": r.newly_closed,
                             "award_count": r.award_count} for r in closed]}

    def render(out: Console) -> None:
        newly = sum(1 for r in closed if r.newly_closed)
        out.print(_("[bold]{year}[/] below {path}: {count} communities, {newly} newly closed").format(
            year=year, path=path, count=len(closed), newly=newly))
        table = titled(_("{year} by community").format(year=year))
        for column in ("community", "closed", "awards"):
            table.add_column(column, justify="right" if column == "awards" else "left")
        for r in closed:
            table.add_row(r.community_path, _("now") if r.newly_closed else _("already"), str(r.award_count))
        out.print(table)

    emit(as_json, data, render)
