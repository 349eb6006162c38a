"""`linli settlement show`: a merchant's day (SettlementService.GetMerchantSettlement) and the
reconciliation of its community's day with the points ledger (ReconcileDay); exit 7 when the
day does not balance."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli_cli import session
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, titled, today

app = typer.Typer(help="Merchants' settlement with the points ledger.", no_args_is_help=True)
REDEMPTION = "partner-redemption"


def merchant_id(value: str, what: str = "MERCHANT") -> str:
    merchant = value.removeprefix("merchants/").removeprefix("partners/")
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", merchant):
        raise usage(_("{what}: {value!r} is not a merchant id (e.g. jinchengyijing-health)").format(
            what=what, value=value))
    return merchant


def day_option(value: str | None) -> str:
    if value is None:
        return today().strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise usage(_("--date: {value!r} is not a date written YYYY-MM-DD").format(value=value))
    return value


@app.command("show")
def show(merchant: Annotated[str, typer.Argument(help="Merchant id, e.g. jinchengyijing-health.")],
         date: Annotated[str | None, typer.Option(help="YYYY-MM-DD, China time (default: today).")] = None,
         token: Token = None, as_json: Json = False) -> None:
    """A merchant's redemptions and refunds of a day, reconciled with the ledger."""
    mid, day = merchant_id(merchant), day_option(date)

    async def fetch() -> tuple[Any, Any, Any]:
        async with session.client(REDEMPTION, token) as c:
            partners = c.stub(admin_pb2_grpc.PartnerServiceStub)
            settlement = c.stub(admin_pb2_grpc.SettlementServiceStub)
            partner = (await c.call(partners.GetPartner, admin_pb2.GetPartnerRequest(name=f"partners/{mid}"))).partner
            mine = await c.call(settlement.GetMerchantSettlement, admin_pb2.GetMerchantSettlementRequest(
                parent=f"merchants/{mid}", date=day))
            reconciled = await c.call(settlement.ReconcileDay, admin_pb2.ReconcileDayRequest(
                community_path=partner.community_path, date=day))
            return partner, mine.settlement, reconciled

    partner, s, rec = session.run(fetch())
    data = {"merchant_id": mid, "display_name": partner.display_name, "community_path": partner.community_path,
            "date": day, "redemption_count": s.redemption_count, "redeemed_points": s.redeemed_points,
            "refund_count": s.refund_count, "refunded_points": s.refunded_points, "net_points": s.net_points,
            "reconciliation": {
                "balanced": rec.balanced,
                "recorded_redeemed_points": rec.recorded_redeemed_points,
                "recorded_refunded_points": rec.recorded_refunded_points,
                "ledger_redeemed_points": rec.ledger_redeemed_points,
                "ledger_refunded_points": rec.ledger_refunded_points,
                "mismatches": [{"transfer_id": m.transfer_id, "recorded_points": m.recorded_points,
                                "ledger_points": m.ledger_points} for m in rec.mismatches]}}

    def render(out: Console) -> None:
        table = titled(f"{partner.display_name} ({mid}) — {day}")
        for column in ("redemptions", "points redeemed", "refunds", "points refunded", "net points"):
            table.add_column(column, justify="right")
        table.add_row(str(s.redemption_count), f"{s.redeemed_points:,}", str(s.refund_count),
                      f"{s.refunded_points:,}", f"[bold]{s.net_points:,}[/]")
        out.print(table)
        verdict = (_("[green]✓ balanced[/]") if rec.balanced else
                   _("[red]✗ {count} mismatch(es)[/]").format(count=len(rec.mismatches)))
        out.print(_("ledger reconciliation of {community} on {day}: {verdict} — recorded {redeemed} redeemed / "
                    "{refunded} refunded, ledger {ledger_redeemed} / {ledger_refunded}").format(
            community=partner.community_path, day=day, verdict=verdict, redeemed=f"{rec.recorded_redeemed_points:,}",
            refunded=f"{rec.recorded_refunded_points:,}", ledger_redeemed=f"{rec.ledger_redeemed_points:,}",
            ledger_refunded=f"{rec.ledger_refunded_points:,}"))
        for m in rec.mismatches:
            out.print(_("  {transfer}: recorded {recorded}, ledger {ledger}").format(
                transfer=m.transfer_id, recorded=m.recorded_points, ledger=m.ledger_points))

    emit(as_json, data, render)
    if not rec.balanced:
        raise CliError(_("{community} on {day} does not reconcile with the ledger ({count} mismatch(es))").format(
            community=partner.community_path, day=day, count=len(rec.mismatches)), ExitCode.CHECK_FAILED)
