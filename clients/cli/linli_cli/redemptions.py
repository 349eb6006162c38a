"""`linli redemptions list | pending`: the redemptions at a community's merchants, for its
operators (partner-redemption's RedemptionAdminService, never the POS API). `pending` is what
the service is still completing or recovering — the view to watch after an outage."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, resources_pb2
from linli_cli import session
from linli_cli.export import exportable
from linli_cli.help_requests import CommunityArg, community_arg
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, enum_name, local, titled, when
from linli_cli.settlement import REDEMPTION, merchant_id

app = typer.Typer(help="Redemptions at the community's merchants: all, or those still pending.",
                  no_args_is_help=True)


class State(StrEnum):
    PENDING = "pending"
    COMMITTED = "committed"
    VOIDED = "voided"


Merchant = Annotated[str, typer.Option(help="Only this merchant's (its id, e.g. jinchengyijing-health).")]
Limit = Annotated[int, typer.Option(help="At most N, newest first (0: all).", min=0)]


def redemption_dict(r: resources_pb2.Redemption) -> dict[str, Any]:
    return {"name": r.name, "redemption_id": r.redemption_id, "merchant_id": r.merchant_id,
            "terminal_id": r.terminal_id, "request_id": r.request_id, "reward_id": r.reward_id,
            "reward_name": r.reward_name, "quantity": r.quantity, "points": r.points,
            "state": enum_name(resources_pb2.RedemptionState.Name(r.state), "REDEMPTION_STATE_"),
            "masked_member": r.masked_member, "refunded_points": r.refunded_points, "void_reason": r.void_reason,
            "transfer_id": r.transfer_id, "create_time": when(r.create_time), "commit_time": when(r.commit_time)}


def listing(community: str | None, merchant: str, state: State | None, limit: int, token: str | None,
            as_json: bool) -> None:
    path = community_arg(community, token)
    only = f"merchants/{merchant_id(merchant, '--merchant')}" if merchant else ""
    wanted = (resources_pb2.RedemptionState.Value("REDEMPTION_STATE_" + state.value.upper()) if state
              else resources_pb2.REDEMPTION_STATE_UNSPECIFIED)

    async def fetch() -> list[resources_pb2.Redemption]:
        async with session.client(REDEMPTION, token) as c:
            stub = c.stub(admin_pb2_grpc.RedemptionAdminServiceStub)

            async def page(tok: str) -> tuple[list[resources_pb2.Redemption], str]:
                r = await c.call(stub.ListRedemptions, admin_pb2.ListRedemptionsRequest(
                    community_path=path, merchant=only, state=wanted, page_size=100, page_token=tok))
                return list(r.redemptions), r.next_page_token

            return await session.pages(page, limit)

    found = session.run(fetch())
    data = {"community_path": path, "merchant": only, "state": state.value if state else None, "count": len(found),
            "redemptions": [redemption_dict(r) for r in found]}

    def render(out: Console) -> None:
        what = _("{state} redemptions").format(state=_(state.value)) if state else _("redemptions")
        where = f"{path}" + (f", {only}" if only else "")
        if not found:
            out.print(_("{where}: no {what}").format(where=where, what=what))
            return
        table = titled(f"{where} — {what}")
        for column in ("time", "merchant", "terminal", "member", "reward", "qty", "points", "state", "request id"):
            table.add_column(column, justify="right" if column in ("qty", "points") else "left")
        for r in found:
            d = redemption_dict(r)
            status = _(d["state"]) + (f" ({r.void_reason})" if r.void_reason else "") + (
                _(", {points} refunded").format(points=r.refunded_points) if r.refunded_points else "")
            table.add_row(local(r.create_time), r.merchant_id, r.terminal_id, r.masked_member, r.reward_name,
                          str(r.quantity), f"{r.points:,}", status, r.request_id)
        out.print(table)

    emit(as_json, data, render)


@app.command("list")
@exportable
def list_redemptions(community: CommunityArg = None, merchant: Merchant = "",
                     state: Annotated[State | None, typer.Option(help="Only redemptions in this state.")] = None,
                     limit: Limit = 50, token: Token = None, as_json: Json = False) -> None:
    """Redemptions at the community's merchants, newest first."""
    listing(community, merchant, state, limit, token, as_json)


@app.command("pending")
@exportable
def pending(community: CommunityArg = None, merchant: Merchant = "", limit: Limit = 0,
            token: Token = None, as_json: Json = False) -> None:
    """Redemptions still pending: being completed, or waiting for recovery to finish or void them."""
    listing(community, merchant, State.PENDING, limit, token, as_json)
