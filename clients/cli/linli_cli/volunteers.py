"""`linli volunteers list` and `linli pairings short`: a community's volunteers
(VolunteerService) and the pairings short of visits in a month (PairingService)."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console

from linli.points.v1 import pairings_pb2, pairings_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli_cli import names, session
from linli_cli.errors import usage
from linli_cli.export import exportable
from linli_cli.i18n import _, ngettext
from linli_cli.output import Json, Token, emit, titled, today

app = typer.Typer(help="A community's volunteers.", no_args_is_help=True)
pairings_app = typer.Typer(help="Volunteer families paired with elders living alone.", no_args_is_help=True)
POINTS = "volunteer-points"

Community = Annotated[str, typer.Argument(metavar="COMMUNITY",
                                          help="The community's org path, e.g. chengdu/jinjiang/chenglonglu/fengshu.")]


async def all_volunteers(c: session.Client, community: str, family_id: str = "") -> list[volunteers_pb2.Volunteer]:
    stub = c.stub(volunteers_pb2_grpc.VolunteerServiceStub)

    async def page(tok: str) -> tuple[list[volunteers_pb2.Volunteer], str]:
        r = await c.call(stub.ListVolunteers, volunteers_pb2.ListVolunteersRequest(
            community_path=community, family_id=family_id, page_size=1000, page_token=tok))
        return list(r.volunteers), r.next_page_token

    return await session.pages(page)


@app.command("list")
@exportable
def list_volunteers(community: Community,
                    family: Annotated[str, typer.Option(help="Only this family's members.")] = "",
                    token: Token = None, as_json: Json = False) -> None:
    """List a community's volunteers by id."""
    path = names.org_path(community, "COMMUNITY")

    async def fetch() -> list[volunteers_pb2.Volunteer]:
        async with session.client(POINTS, token) as c:
            return await all_volunteers(c, path, family)

    found = session.run(fetch())
    data = {"community_path": path, "count": len(found),
            "volunteers": [{"volunteer_id": v.volunteer_id, "display_name": v.display_name,
                            "family_id": v.family_id, "person_id": v.person_id} for v in found]}

    def render(out: Console) -> None:
        table = titled(ngettext("{path} — {count} volunteer", "{path} — {count} volunteers", len(found)).format(
            path=path, count=len(found)))
        for column in ("id", "name", "family", "person"):
            table.add_column(column)
        for v in found:
            table.add_row(v.volunteer_id, v.display_name, v.family_id, v.person_id)
        out.print(table)

    emit(as_json, data, render)


def month_option(value: str | None) -> str:
    if value is None:
        return today().strftime("%Y-%m")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise usage(_("--month: {value!r} is not a month written YYYY-MM").format(value=value))
    return value


@pairings_app.command("short")
@exportable
def short(community: Community,
          month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month, China time).")] = None,
          token: Token = None, as_json: Json = False) -> None:
    """Pairings short of the required visits in a month, shortest first."""
    path = names.org_path(community, "COMMUNITY")
    the_month = month_option(month)

    async def fetch() -> list[pairings_pb2.PairingCompliance]:
        async with session.client(POINTS, token) as c:
            stub = c.stub(pairings_pb2_grpc.PairingServiceStub)

            async def page(tok: str) -> tuple[list[pairings_pb2.PairingCompliance], str]:
                r = await c.call(stub.ListPairingCompliance, pairings_pb2.ListPairingComplianceRequest(
                    community_path=path, month=the_month, only_short=True, page_size=1000, page_token=tok))
                return list(r.pairings), r.next_page_token

            return await session.pages(page)

    found = session.run(fetch())
    data = {"community_path": path, "month": the_month, "count": len(found),
            "pairings": [{"pairing_id": p.pairing.pairing_id, "family_id": p.pairing.family_id,
                          "elder_id": p.pairing.elder_id, "visits_done": p.visits_done,
                          "visits_required": p.pairing.visits_required} for p in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{path}: no pairing is short of visits in {month}").format(path=path, month=the_month))
            return
        table = titled(ngettext("{path} — {count} pairing short of visits in {month}",
                                "{path} — {count} pairings short of visits in {month}", len(found)).format(
            path=path, count=len(found), month=the_month))
        for column in ("pairing", "family", "elder", "visits"):
            table.add_column(column, justify="right" if column == "visits" else "left")
        for p in found:
            table.add_row(p.pairing.pairing_id, p.pairing.family_id, p.pairing.elder_id,
                          f"{p.visits_done} / {p.pairing.visits_required}")
        out.print(table)

    emit(as_json, data, render)
