"""`linli funding report`: who pays for a community's points and what became of them
(FundingService.GetFundingReport) — per funding source (慈善微基金, the social enterprise,
higher-level project funds…) its budget and what is left, and the points it issued, of which
redeemed, expired, returned and still outstanding."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from linli.points.v1 import funding_pb2, funding_pb2_grpc
from linli_cli import names, session
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, emit, enum_name, titled, when
from linli_cli.volunteers import POINTS, Community

app = typer.Typer(help="Funding sources of the points and what became of them.", no_args_is_help=True)
FIGURES = ("budget", "budget_remaining", "issued", "redeemed", "expired", "returned", "outstanding")
FIGURE_HEADERS = (N_("budget"), N_("budget remaining"), N_("issued"), N_("redeemed"), N_("expired"), N_("returned"),
                  N_("outstanding"))  # FIGURES as the table's headers


def line_dict(line: funding_pb2.FundingLine) -> dict[str, Any]:
    return {"source_id": line.source_id, "display_name": line.display_name,
            "kind": enum_name(funding_pb2.FundingKind.Name(line.kind), "FUNDING_KIND_"),
            **{figure: getattr(line, figure) for figure in FIGURES}}


@app.command("report")
@exportable(rows_key="lines")
def report(community: Community, token: Token = None, as_json: Json = False) -> None:
    """Per funding source: budget, left to issue, issued, redeemed, expired, returned and
    outstanding points (issued = outstanding + redeemed + expired + returned)."""
    path = names.org_path(community, "COMMUNITY")

    async def fetch() -> funding_pb2.GetFundingReportResponse:
        async with session.client(POINTS, token) as c:
            stub = c.stub(funding_pb2_grpc.FundingServiceStub)
            return await c.call(stub.GetFundingReport,  # type: ignore[no-any-return]
                                funding_pb2.GetFundingReportRequest(community_path=path))

    r = session.run(fetch())
    lines, total = [line_dict(x) for x in r.lines], line_dict(r.total)
    data = {"community_path": path, "report_time": when(r.report_time), "lines": lines, "total": total}

    def render(out: Console) -> None:
        if not r.lines:
            out.print(_("{path} has issued no points yet").format(path=path))
            return
        table = titled(_("{path} — funding of the points").format(path=path))
        table.add_column("source")
        table.add_column("kind")
        for figure in FIGURES:
            table.add_column(figure.replace("_", " "), justify="right")
        for x in [*lines, {**total, "display_name": _("[bold]total[/]"), "kind": ""}]:
            table.add_row(x["display_name"] or x["source_id"] or _("(unfunded)"), _(x["kind"]) if x["kind"] else "",
                          *(f"{x[figure]:,}" for figure in FIGURES))
        out.print(table)

    emit(as_json, data, render)
