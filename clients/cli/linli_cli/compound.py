"""`linli compound account | budget | disclosures | fund | verify`: a compound's trust account
(TrustAccountService), its budget against actual spending, its sealed disclosures, the
maintenance fund's movements they disclose and the verification of their hash chain
(DisclosureService)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from linli.governance.v1 import account_pb2, account_pb2_grpc, disclosure_pb2, disclosure_pb2_grpc
from linli_cli import names, session
from linli_cli.errors import CliError, ExitCode
from linli_cli.export import exportable
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, enum_name, local, titled, today, when, yuan

app = typer.Typer(help="A compound's trust account, budget, disclosures and their verification.",
                  no_args_is_help=True)
GOVERNANCE = "trust-governance"

Compound = Annotated[str, typer.Argument(metavar="PATH", help="The compound's org path, e.g. "
                                         "chengdu/chongzhou/longxing/longxing-community/shengjian.")]


@app.command("account")
def account(path: Compound, token: Token = None, as_json: Json = False) -> None:
    """Balances of the trust common account, its rules and the expenses awaiting approval."""
    compound = names.org_path(path)

    async def fetch() -> tuple[Any, Any, list[account_pb2.Transfer]]:
        async with session.client(GOVERNANCE, token) as c:
            stub = c.stub(account_pb2_grpc.TrustAccountServiceStub)
            balances = await c.call(stub.GetBalances, account_pb2.GetBalancesRequest(compound_path=compound))
            settings = await c.call(stub.GetAccountSettings, account_pb2.GetAccountSettingsRequest(
                compound_path=compound))

            async def page(tok: str) -> tuple[list[account_pb2.Transfer], str]:
                r = await c.call(stub.ListTransfers, account_pb2.ListTransfersRequest(
                    compound_path=compound, state=account_pb2.TRANSFER_STATE_PENDING, page_size=500, page_token=tok))
                return list(r.transfers), r.next_page_token

            return balances, settings.settings, await session.pages(page)

    balances, settings, pending = session.run(fetch())
    data: dict[str, Any] = {
        "compound_path": compound,
        "operating_fen": balances.operating_fen,
        "maintenance_fund_fen": balances.maintenance_fund_fen,
        "pending_fen": balances.pending_fen,
        "balances": [{"account": b.account, "balance_fen": b.balance_fen} for b in balances.balances],
        "settings": {"approval_threshold_fen": settings.approval_threshold_fen,
                     "surplus_share_basis_points": settings.surplus_share_basis_points,
                     "period_kind": enum_name(account_pb2.PeriodKind.Name(settings.period_kind), "PERIOD_KIND_")},
        "pending_transfers": [{"name": t.name, "amount_fen": t.amount_fen, "budget_line": t.budget_line,
                               "memo": t.memo, "approvals": [enum_name(account_pb2.ApprovalParty.Name(a),
                                                                       "APPROVAL_PARTY_") for a in t.approvals],
                               "create_time": when(t.create_time)} for t in pending],
    }

    def render(out: Console) -> None:
        out.print(_("[bold]{compound}[/]: operating {operating}, maintenance fund {fund}, pending approval "
                    "{pending}").format(compound=compound, operating=yuan(balances.operating_fen),
                                        fund=yuan(balances.maintenance_fund_fen), pending=yuan(balances.pending_fen)))
        out.print(_("rules: expenses above {threshold} need both approvals; {share} % of the surplus to the "
                    "maintenance fund; closes {period_kind}").format(
            threshold=yuan(settings.approval_threshold_fen), share=f"{settings.surplus_share_basis_points / 100:g}",
            period_kind=_(data["settings"]["period_kind"])))
        table = titled(_("balances (debit − credit)"))
        table.add_column("account")
        table.add_column("balance", justify="right")
        for b in balances.balances:
            table.add_row(b.account, yuan(b.balance_fen))
        out.print(table)
        if pending:
            waiting = titled(_("awaiting approval"))
            for column in ("transfer", "line", "amount", "approved by", "memo"):
                waiting.add_column(column, justify="right" if column == "amount" else "left")
            for t in data["pending_transfers"]:
                waiting.add_row(t["name"].rsplit("/", 1)[-1], t["budget_line"], yuan(t["amount_fen"]),
                                ", ".join(t["approvals"]) or "-", t["memo"])
            out.print(waiting)

    emit(as_json, data, render)


@app.command("budget")
@exportable
def budget(path: Compound,
           year: Annotated[int | None, typer.Option(help="Budget year (default: this year).",
                                                    min=2000, max=2200)] = None,
           token: Token = None, as_json: Json = False) -> None:
    """The year's budget against actual spending, line by line."""
    compound = names.org_path(path)
    the_year = year or today().year

    async def fetch() -> account_pb2.Budget:
        async with session.client(GOVERNANCE, token) as c:
            stub = c.stub(account_pb2_grpc.TrustAccountServiceStub)
            r = await c.call(stub.GetBudget, account_pb2.GetBudgetRequest(
                name=f"{names.compound(compound)}/budgets/{the_year}"))
            budget: account_pb2.Budget = r.budget
            return budget

    b = session.run(fetch())
    lines: list[dict[str, Any]] = [
        {"code": line.code, "title": line.title, "budget_fen": line.amount_fen, "actual_fen": line.actual_fen,
         "remaining_fen": line.amount_fen - line.actual_fen} for line in b.lines]
    total_budget, total_actual = sum(x["budget_fen"] for x in lines), sum(x["actual_fen"] for x in lines)
    data: dict[str, Any] = {"name": b.name, "compound_path": b.compound_path, "year": b.year,
            "state": enum_name(account_pb2.BudgetState.Name(b.state), "BUDGET_STATE_"),
            "approved_by_vote": b.approved_by_vote, "lines": lines,
            "total_budget_fen": total_budget, "total_actual_fen": total_actual}

    def render(out: Console) -> None:
        state = _(data["state"]) + (_(" by {vote}").format(vote=b.approved_by_vote) if b.approved_by_vote else "")
        table = titled(_("{compound} — budget {year} ({state})").format(compound=compound, year=b.year, state=state))
        for column in ("line", "title", "budget", "actual", "remaining", "used"):
            table.add_column(column, justify="left" if column in ("line", "title") else "right")
        for x in [*lines, {"code": _("[bold]total[/]"), "title": "", "budget_fen": total_budget,
                           "actual_fen": total_actual, "remaining_fen": total_budget - total_actual}]:
            used = f"{100 * x['actual_fen'] / x['budget_fen']:.0f} %" if x["budget_fen"] else "-"
            over = x["remaining_fen"] < 0
            table.add_row(x["code"], x["title"], yuan(x["budget_fen"]), yuan(x["actual_fen"]),
                          f"[red]{yuan(x['remaining_fen'])}[/]" if over else yuan(x["remaining_fen"]), used)
        out.print(table)

    emit(as_json, data, render)


def disclosure_dict(d: disclosure_pb2.Disclosure) -> dict[str, Any]:
    return {"name": d.name, "period": d.period, "income_fen": d.income_fen, "expense_fen": d.expense_fen,
            "surplus_fen": d.surplus_fen, "to_maintenance_fund_fen": d.to_maintenance_fund_fen,
            "operating_balance_fen": d.operating_balance_fen,
            "maintenance_fund_balance_fen": d.maintenance_fund_balance_fen, "pending_fen": d.pending_fen,
            "transfer_count": d.transfer_count, "seal_hash": d.seal_hash, "previous_seal_hash": d.previous_seal_hash,
            "publish_time": when(d.publish_time),
            "income": [{"account": x.account, "amount_fen": x.amount_fen} for x in d.income],
            "expenses": [{"account": x.account, "amount_fen": x.amount_fen, "budget_fen": x.budget_fen,
                          "year_actual_fen": x.year_actual_fen} for x in d.expenses]}


@app.command("disclosures")
@exportable
def disclosures(path: Compound, token: Token = None, as_json: Json = False) -> None:
    """The compound's sealed disclosures (公示), oldest first."""
    compound = names.org_path(path)

    found = session.run(_disclosures(compound, token))
    data = {"compound_path": compound, "disclosures": [disclosure_dict(d) for d in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{compound} has no disclosures yet").format(compound=compound))
            return
        table = titled(_("{compound} — disclosures").format(compound=compound))
        for column in ("period", "income", "expenses", "surplus", "to fund", "operating", "fund", "published", "seal"):
            table.add_column(column, justify="left" if column in ("period", "published", "seal") else "right")
        for d in found:
            table.add_row(d.period, yuan(d.income_fen), yuan(d.expense_fen), yuan(d.surplus_fen),
                          yuan(d.to_maintenance_fund_fen), yuan(d.operating_balance_fen),
                          yuan(d.maintenance_fund_balance_fen), local(d.publish_time), d.seal_hash[:12] + "…")
        out.print(table)

    emit(as_json, data, render)


def fund_movement_dict(period: str, m: disclosure_pb2.FundMovement) -> dict[str, Any]:
    return {"period": period, "transfer": m.transfer,
            "kind": enum_name(disclosure_pb2.FundMovementKind.Name(m.kind), "FUND_MOVEMENT_KIND_"),
            "amount_fen": m.amount_fen, "owners_decision": m.owners_decision, "memo": m.memo,
            "post_time": when(m.post_time)}


@app.command("fund")
@exportable(rows_key="movements")
def fund(path: Compound, token: Token = None, as_json: Json = False) -> None:
    """The maintenance fund (维修基金) as the sealed disclosures show it: each period's opening
    balance, the surplus share moved in, every use with the owners' vote it cites, the closing
    balance."""
    compound = names.org_path(path)
    found = session.run(_disclosures(compound, token))
    periods = [{"period": d.period, "opening_fen": d.maintenance_fund_opening_fen,
                "closing_fen": d.maintenance_fund_balance_fen} for d in found]
    movements = [fund_movement_dict(d.period, m) for d in found for m in d.fund_movements]
    data = {"compound_path": compound, "balance_fen": found[-1].maintenance_fund_balance_fen if found else 0,
            "periods": periods, "movements": movements}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{compound} has no disclosures yet: the fund has shown no movement").format(compound=compound))
            return
        table = titled(_("{compound} — maintenance fund").format(compound=compound))
        for column in ("period", "movement", "amount", "owners' vote", "purpose"):
            table.add_column(column, justify="right" if column == "amount" else "left")
        for d in found:
            table.add_row(d.period, _("opening balance"), yuan(d.maintenance_fund_opening_fen), "", "")
            for m in movements:
                if m["period"] == d.period:
                    table.add_row("", _(m["kind"]), yuan(m["amount_fen"]),
                                  m["owners_decision"].rsplit("/", 1)[-1] or "-", m["memo"])
            table.add_row("", _("[bold]closing balance[/]"), yuan(d.maintenance_fund_balance_fen), "", "")
        out.print(table)

    emit(as_json, data, render)


async def _disclosures(compound: str, token: str | None) -> list[disclosure_pb2.Disclosure]:
    async with session.client(GOVERNANCE, token) as c:
        stub = c.stub(disclosure_pb2_grpc.DisclosureServiceStub)

        async def page(tok: str) -> tuple[list[disclosure_pb2.Disclosure], str]:
            r = await c.call(stub.ListDisclosures, disclosure_pb2.ListDisclosuresRequest(
                compound_path=compound, page_size=100, page_token=tok))
            return list(r.disclosures), r.next_page_token

        return await session.pages(page)


@app.command("verify")
def verify(path: Compound, token: Token = None, as_json: Json = False) -> None:
    """Recompute every seal and ledger figure of the disclosure chain; exit 7 when it is broken."""
    verify_chain(names.org_path(path), token, as_json)


def verify_chain(compound: str, token: str | None, as_json: bool) -> None:
    """VerifyDisclosureChain, shown; a broken chain is exit 7 naming the first bad disclosure."""

    async def fetch() -> disclosure_pb2.VerifyDisclosureChainResponse:
        async with session.client(GOVERNANCE, token) as c:
            stub = c.stub(disclosure_pb2_grpc.DisclosureServiceStub)
            return await c.call(stub.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(
                compound_path=compound))

    r = session.run(fetch())
    data = {"compound_path": compound, "valid": r.valid, "checked": r.checked,
            "broken_disclosure": r.broken_disclosure, "reason": r.reason}
    emit(as_json, data, lambda out: out.print(
        _("{compound}: no disclosures to verify").format(compound=compound) if r.valid and not r.checked else
        _("[green]✓[/] {compound}: the chain of {count} disclosure(s) verifies").format(
            compound=compound, count=r.checked) if r.valid else
        _("[red]✗[/] {compound}: {disclosure} is broken after {count} good disclosure(s)").format(
            compound=compound, disclosure=r.broken_disclosure, count=r.checked - 1)))
    if not r.valid:
        raise CliError(_("disclosure chain broken at {disclosure}: {reason}").format(
            disclosure=r.broken_disclosure, reason=r.reason), ExitCode.CHECK_FAILED)
