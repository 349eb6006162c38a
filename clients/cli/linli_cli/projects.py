"""`linli projects list`: a community's co-building projects (共建项目) in partner-redemption
(CommunityService.ListProjects) — each matches a resident need with the resources that meet
it, has an owner and moves open → in progress → done or cancelled."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import community_pb2_grpc as pb_grpc
from linli_cli import names, session
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, emit, enum_name, local, titled, when
from linli_cli.volunteers import Community

app = typer.Typer(help="Co-building projects: needs met by resources, with an owner and a state.",
                  no_args_is_help=True)
REDEMPTION = "partner-redemption"


STATES = (N_("in-progress"), N_("done"))  # State's values besides the common words (words.py)


class State(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    CANCELLED = "cancelled"
    CLOSED = "closed"  # done or cancelled


def project_dict(p: pb.Project) -> dict[str, Any]:
    return {"project_id": p.project_id, "title": p.title, "state": enum_name(pb.ProjectState.Name(p.state),
                                                                             "PROJECT_STATE_"),
            "owner": p.owner, "need_id": p.need_id, "resource_ids": list(p.resource_ids), "outcome": p.outcome,
            "create_time": when(p.create_time), "update_time": when(p.update_time),
            "close_time": when(p.close_time)}


@app.command("list")
@exportable
def list_projects(community: Community,
                  state: Annotated[State | None, typer.Option(help="Only projects in this state.")] = None,
                  token: Token = None, as_json: Json = False) -> None:
    """The community's projects, newest first."""
    path = names.org_path(community, "COMMUNITY")
    wanted = pb.ProjectState.Value("PROJECT_STATE_" + state.name) if state else pb.PROJECT_STATE_UNSPECIFIED

    async def fetch() -> list[pb.Project]:
        async with session.client(REDEMPTION, token) as c:
            stub = c.stub(pb_grpc.CommunityServiceStub)

            async def page(tok: str) -> tuple[list[pb.Project], str]:
                r = await c.call(stub.ListProjects, pb.ListProjectsRequest(
                    community_path=path, state=wanted, page_size=100, page_token=tok))
                return list(r.projects), r.next_page_token

            return await session.pages(page)

    found = session.run(fetch())
    shown = [project_dict(p) for p in found]
    data = {"community_path": path, "count": len(found), "projects": shown}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{path} has no projects {state}").format(path=path, state=_(state.value)) if state else
                      _("{path} has no projects").format(path=path))
            return
        table = titled(_("{path} — co-building projects").format(path=path))
        for column in ("project", "title", "state", "owner", "need", "updated"):
            table.add_column(column)
        for p, x in zip(found, shown, strict=True):
            table.add_row(x["project_id"], x["title"], _(x["state"]), x["owner"], x["need_id"] or "-",
                          local(p.update_time))
        out.print(table)

    emit(as_json, data, render)
