"""`linli org tree | rollup`: the org tree (trust-governance's OrgService) and the city's
trust-model roll-up (RolloutService.SummarizeRollout)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.tree import Tree

from linli.governance.v1 import org_pb2, org_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from linli_cli import session
from linli_cli.errors import usage
from linli_cli.export import exportable, tree_rows
from linli_cli.i18n import N_, _
from linli_cli.names import org_path
from linli_cli.output import Json, Token, emit, enum_name, titled

app = typer.Typer(help="The org tree and the trust-model roll-up.", no_args_is_help=True)
GOVERNANCE = "trust-governance"
STAGES = ("not_started", "surveyed", "pilot", "importing", "adopted", "exited")

Path = Annotated[str | None, typer.Argument(metavar="[PATH]",
                                            help="Org path, e.g. chengdu/chongzhou (default: your token's scope).")]


def default_path(path: str | None, token: str | None) -> str:
    if path:
        return org_path(path)
    scope = session.require_identity(token).scope
    if not scope:
        raise usage(_("PATH: give an org path (your token reaches the whole platform), e.g. chengdu"))
    return scope


def unit_dict(unit: org_pb2.OrgUnit) -> dict[str, Any]:
    data: dict[str, Any] = {"path": unit.path, "kind": enum_name(org_pb2.OrgUnitKind.Name(unit.kind), "ORG_UNIT_KIND_"),
                            "display_name": unit.display_name, "display_name_en": unit.display_name_en}
    if unit.kind == org_pb2.ORG_UNIT_KIND_COMPOUND:
        data["compound_type"] = enum_name(org_pb2.CompoundType.Name(unit.compound_type), "COMPOUND_TYPE_")
    return data


@app.command("tree")
@exportable(rows=tree_rows)
def tree(path: Path = None,
         depth: Annotated[int, typer.Option(help="Levels below PATH to show (4 reaches a city's compounds).",
                                            min=1, max=7)] = 4,
         token: Token = None, as_json: Json = False) -> None:
    """Show the org tree below PATH."""
    root_path = default_path(path, token)

    async def fetch() -> dict[str, Any]:
        async with session.client(GOVERNANCE, token) as c:
            org = c.stub(org_pb2_grpc.OrgServiceStub)
            root = unit_dict((await c.call(org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=root_path))).org_unit)

            async def children(node: dict[str, Any], level: int) -> None:
                async def page(tok: str) -> tuple[list[org_pb2.OrgUnit], str]:
                    r = await c.call(org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(
                        parent_path=node["path"], page_size=500, page_token=tok))
                    return list(r.org_units), r.next_page_token

                node["children"] = [unit_dict(u) for u in await session.pages(page)]
                if level < depth:
                    await asyncio.gather(*(children(child, level + 1) for child in node["children"]))

            await children(root, 1)
            return root

    root = session.run(fetch())

    def render(out: Console) -> None:
        def label(node: dict[str, Any]) -> str:
            extra = f" [dim]{node['compound_type']}[/]" if node.get("compound_type") else ""
            return f"[bold]{node['display_name']}[/] {node['path'].rsplit('/', 1)[-1]} [dim]({node['kind']})[/]{extra}"

        def add(branch: Tree, node: dict[str, Any]) -> None:
            for child in node.get("children", []):
                add(branch.add(label(child)), child)

        top = Tree(label(root))
        add(top, root)
        out.print(top)

    emit(as_json, root, render)


def counts(stage_counts: Any) -> dict[str, int]:
    return {enum_name(rollout_pb2.RolloutStage.Name(c.stage), "ROLLOUT_STAGE_"): c.count for c in stage_counts}


@app.command("rollup")
@exportable(rows_key="by_street")
def rollup(path: Path = None, token: Token = None, as_json: Json = False) -> None:
    """The trust-model roll-up of PATH: compounds by stage, by street/town and by type."""
    target = default_path(path, token)

    async def fetch() -> rollout_pb2.SummarizeRolloutResponse:
        async with session.client(GOVERNANCE, token) as c:
            stub = c.stub(rollout_pb2_grpc.RolloutServiceStub)
            return await c.call(stub.SummarizeRollout, rollout_pb2.SummarizeRolloutRequest(path=target))

    r = session.run(fetch())
    data: dict[str, Any] = {
            "path": r.path, "headline": r.headline, "compound_count": r.compound_count, "totals": counts(r.totals),
            "by_street": [{"key": g.key, "counts": counts(g.counts)} for g in r.by_street],
            "by_compound_type": [{"key": g.key, "counts": counts(g.counts)} for g in r.by_compound_type]}

    def render(out: Console) -> None:
        out.print(_("[bold]{headline}[/]  ({count} compounds)").format(headline=r.headline, count=r.compound_count))
        used = [s for s in STAGES if any(g["counts"].get(s) for g in data["by_street"] + data["by_compound_type"])]
        for title, column, groups in ((N_("by street / town"), N_("street / town"), data["by_street"]),
                                      (N_("by compound type"), N_("compound type"), data["by_compound_type"])):
            table = titled(_(title))
            table.add_column(column)
            for stage in used:
                table.add_column(stage, justify="right")
            for g in groups:
                table.add_row(g["key"], *(str(g["counts"].get(s, 0)) for s in used))
            table.add_row(_("[bold]total[/]"), *(f"[bold]{data['totals'].get(s, 0)}[/]" for s in used))
            out.print(table)

    emit(as_json, data, render)
