"""`linli adjustments request | approve | reject | list`: manual corrections of a volunteer's
points under the four-eyes rule (volunteer-points' AdjustmentService): one operator requests,
a second approves (only then do points move) or rejects.

Adjustments are named by their id within a community: `--community`, or the community the
token lies in. `request` chooses the id (`adj-…`) unless `--id` is given; sending the same id
again returns the first proposal, so a retry with `--id` is safe."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.points.v1 import adjustments_pb2 as pb
from linli.points.v1 import adjustments_pb2_grpc as pb_grpc
from linli_cli import names, session
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, emit, enum_name, local, titled, when
from linli_cli.volunteers import POINTS

app = typer.Typer(help="Manual point adjustments: request, approve (a second person), reject, list.",
                  no_args_is_help=True)
Stub = pb_grpc.AdjustmentServiceStub

CommunityOption = Annotated[str | None, typer.Option(
    "--community", help="The community (default: your token's, when it lies in one community).")]
Ident = Annotated[str, typer.Argument(metavar="ID", help="The adjustment's id, as `request` and `list` show it.")]


class State(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


def community_of(given: str | None, token: str | None) -> str:
    if given:
        return names.org_path(given, "--community")
    return names.place_for(None, session.require_identity(token).scope, names.COMMUNITY_DEPTH, "community",
                           "--community")


def adjustment_dict(a: pb.Adjustment) -> dict[str, Any]:
    return {"community_path": a.community_path, "adjustment_id": a.adjustment_id, "volunteer_id": a.volunteer_id,
            "points": a.points, "reason": a.reason, "state": enum_name(pb.AdjustmentState.Name(a.state),
                                                                      "ADJUSTMENT_STATE_"),
            "proposed_by": a.proposed_by, "decided_by": a.decided_by, "transfer_id": a.transfer_id,
            "propose_time": when(a.propose_time), "decide_time": when(a.decide_time)}


def show_one(out: Console, a: pb.Adjustment, verb: str) -> None:
    d = adjustment_dict(a)
    sign = "+" if a.points > 0 else ""
    out.print(_("{verb} [bold]{id}[/]: {points} points for {volunteer} — {reason}").format(
        verb=_(verb), id=a.adjustment_id, points=f"{sign}{a.points:,}", volunteer=a.volunteer_id, reason=a.reason))
    decided = _(", {state} by {who} at {time}").format(
        state=_(d["state"]), who=a.decided_by, time=local(a.decide_time)) if a.decided_by else ""
    out.print(_("  {state}: requested by {who} at {time}").format(
        state=_(d["state"]), who=a.proposed_by, time=local(a.propose_time)) + decided
              + (_("; transfer {transfer}").format(transfer=a.transfer_id) if a.transfer_id else ""))


@app.command("request")
def request(volunteer: Annotated[str, typer.Option(help="The volunteer's id.")],
            points: Annotated[int, typer.Option(help="Points to credit (positive) or debit (negative), not 0.",
                                                min=-100_000, max=100_000)],
            reason: Annotated[str, typer.Option(help="Why (required, up to 200 characters).")],
            community: CommunityOption = None,
            adjustment_id: Annotated[str, typer.Option("--id", help="The adjustment's id (default: a fresh "
                                                       "adj-…); the same id again returns the first "
                                                       "request.")] = "",
            token: Token = None, as_json: Json = False) -> None:
    """Request an adjustment; a second person must approve it before points move."""
    path = community_of(community, token)
    ident = adjustment_id or f"adj-{uuid.uuid4().hex[:12]}"

    async def work() -> pb.Adjustment:
        async with session.client(POINTS, token) as c:
            r = await c.call(c.stub(Stub).ProposeAdjustment, pb.ProposeAdjustmentRequest(
                community_path=path, adjustment_id=ident, volunteer_id=volunteer, points=points, reason=reason))
            return r.adjustment  # type: ignore[no-any-return]

    a = session.run(work())
    emit(as_json, adjustment_dict(a), lambda out: show_one(out, a, N_("requested")))


def decide(approve: bool, ident: str, community: str | None, token: str | None) -> pb.Adjustment:
    path = community_of(community, token)

    async def work() -> pb.Adjustment:
        async with session.client(POINTS, token) as c:
            stub = c.stub(Stub)
            if approve:
                r: Any = await c.call(stub.ApproveAdjustment, pb.ApproveAdjustmentRequest(
                    community_path=path, adjustment_id=ident))
            else:
                r = await c.call(stub.RejectAdjustment, pb.RejectAdjustmentRequest(
                    community_path=path, adjustment_id=ident))
            return r.adjustment  # type: ignore[no-any-return]

    return session.run(work())


@app.command("approve")
def approve(ident: Ident, community: CommunityOption = None, token: Token = None, as_json: Json = False) -> None:
    """Approve an adjustment someone else requested: the points move now."""
    a = decide(True, ident, community, token)
    emit(as_json, adjustment_dict(a), lambda out: show_one(out, a, N_("approved")))


@app.command("reject")
def reject(ident: Ident, community: CommunityOption = None, token: Token = None, as_json: Json = False) -> None:
    """Reject an adjustment: it closes without moving points."""
    a = decide(False, ident, community, token)
    emit(as_json, adjustment_dict(a), lambda out: show_one(out, a, N_("rejected")))


@app.command("list")
@exportable
def list_adjustments(community: CommunityOption = None,
                     state: Annotated[State | None, typer.Option(help="Only adjustments in this state.")] = None,
                     token: Token = None, as_json: Json = False) -> None:
    """A community's adjustments by id; `--state proposed` is what waits for a second person."""
    path = community_of(community, token)

    async def fetch() -> list[pb.Adjustment]:
        async with session.client(POINTS, token) as c:
            stub = c.stub(Stub)

            async def page(tok: str) -> tuple[list[pb.Adjustment], str]:
                r = await c.call(stub.ListAdjustments, pb.ListAdjustmentsRequest(
                    community_path=path, page_size=1000, page_token=tok))
                return list(r.adjustments), r.next_page_token

            return await session.pages(page)

    everything = session.run(fetch())
    found = [a for a in everything if state is None or adjustment_dict(a)["state"] == state.value]
    data = {"community_path": path, "count": len(found), "adjustments": [adjustment_dict(a) for a in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{path}: no adjustments {state}").format(path=path, state=_(state.value)) if state else
                      _("{path}: no adjustments").format(path=path))
            return
        table = titled(_("{path} — point adjustments").format(path=path))
        for column in ("id", "volunteer", "points", "reason", "state", "requested by", "requested", "decided by"):
            table.add_column(column, justify="right" if column == "points" else "left", no_wrap=column == "id")
        for a in found:
            d = adjustment_dict(a)
            table.add_row(a.adjustment_id, a.volunteer_id, f"{a.points:+,}", a.reason, _(d["state"]), a.proposed_by,
                          local(a.propose_time), a.decided_by)
        out.print(table)

    emit(as_json, data, render)
