"""What a resident's page shows of a compound, read from trust-governance with the portal's
service token: the unit, its sealed disclosures, the year's budget against actual spending,
the chain check, and the households that may raise an objection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc

from linli.governance.v1 import account_pb2, disclosure_pb2, org_pb2
from linli_portal import charts
from linli_portal.backends import Backends
from linli_portal.fmt import account_names, date_text, datetime_text, yuan, yuan_short


@dataclass
class Line:
    account: str
    zh: str
    en: str
    amount_fen: int
    budget_fen: int = 0
    year_actual_fen: int = 0

    @property
    def amount(self) -> str:
        return yuan(self.amount_fen)


@dataclass
class BudgetRow:
    code: str
    zh: str
    en: str
    budget_fen: int
    actual_fen: int

    @property
    def used(self) -> str:
        return f"{100 * self.actual_fen / self.budget_fen:.0f}%" if self.budget_fen else "—"


FUND_KINDS = {
    disclosure_pb2.FUND_MOVEMENT_KIND_ALLOCATION: ("结余转入", "Surplus share in"),
    disclosure_pb2.FUND_MOVEMENT_KIND_USE: ("按业主表决支出", "Spent under an owners' vote"),
    disclosure_pb2.FUND_MOVEMENT_KIND_REVERSAL: ("支出冲回", "Spending reversed"),
}


@dataclass
class FundMove:
    """One movement of the maintenance fund in the latest disclosure."""

    transfer: str
    zh: str
    en: str
    amount_fen: int
    vote: str  # the vote's id (the last segment of its name), "" when none
    memo: str

    @property
    def amount(self) -> str:
        return yuan(self.amount_fen)


def fund_moves(d: disclosure_pb2.Disclosure) -> list[FundMove]:
    return [FundMove(m.transfer, *FUND_KINDS.get(m.kind, ("", "")), m.amount_fen,
                     m.owners_decision.rsplit("/", 1)[-1] if m.owners_decision else "", m.memo)
            for m in d.fund_movements]


@dataclass
class Chain:
    valid: bool
    checked: int
    broken_period: str = ""
    reason: str = ""
    # The head published outside the database that the chain was held against ("" unchecked).
    head_seal: str = ""
    head_period: str = ""


KIND_NAMES = {
    "income": ("收入", "Income"),
    "expense": ("支出", "Expense"),
    "fund_allocation": ("转入维修基金", "To the fund"),
    "fund_use": ("维修基金支出", "From the fund"),
    "remuneration": ("受托人酬金", "Trustee's pay"),
    "reversal": ("冲正", "Reversal"),
}


@dataclass
class SealedLine:
    """One transfer the latest disclosure seals, as residents read it."""

    transfer: str
    zh: str
    en: str
    account_zh: str
    account_en: str
    counterparty: str
    amount_fen: int
    posted: str
    voucher: str  # the voucher's SHA-256

    @property
    def amount(self) -> str:
        return yuan(self.amount_fen)


@dataclass
class CompoundView:
    path: str
    unit: org_pb2.OrgUnit
    ancestors: list[org_pb2.OrgUnit]
    disclosures: list[disclosure_pb2.Disclosure]
    budget: account_pb2.Budget | None
    chain: Chain
    households: list[tuple[str, str]] = field(default_factory=list)  # (path, label)
    income: list[Line] = field(default_factory=list)
    expenses: list[Line] = field(default_factory=list)
    budget_rows: list[BudgetRow] = field(default_factory=list)
    fund_moves: list[FundMove] = field(default_factory=list)
    sealed_lines: list[SealedLine] = field(default_factory=list)

    @property
    def latest(self) -> disclosure_pb2.Disclosure | None:
        return self.disclosures[-1] if self.disclosures else None

    @property
    def lines(self) -> list[Line]:
        return [*self.income, *self.expenses]

    def budget_chart(self) -> str:
        bars = [charts.Bar(f"{r.zh} {r.en}", r.actual_fen, f"{yuan_short(r.actual_fen)} / {yuan_short(r.budget_fen)}"
                           f" · {r.used}", target=r.budget_fen, over=r.actual_fen > r.budget_fen)
                for r in self.budget_rows]
        year = self.budget.year if self.budget else ""
        desc = "; ".join(f"{r.zh} {r.en}: spent {yuan(r.actual_fen)} of {yuan(r.budget_fen)}" for r in self.budget_rows)
        return charts.hbars(bars, title=f"{year}年预算执行 Budget vs actual {year}", desc=desc)

    def fund_chart(self) -> str:
        points = [(d.period, d.maintenance_fund_balance_fen, yuan_short(d.maintenance_fund_balance_fen))
                  for d in self.disclosures]
        desc = "; ".join(f"{d.period}: {yuan(d.maintenance_fund_balance_fen)}" for d in self.disclosures)
        return charts.columns(points, title="维修基金余额 Maintenance fund balance by period", desc=desc)


async def _none() -> None:
    return None


def sealed_lines(d: disclosure_pb2.Disclosure, titles: dict[str, str]) -> list[SealedLine]:
    found = []
    for t in d.transfers:
        spent = t.debit_account if t.debit_account.startswith(("expense:", "fund_use:")) else t.credit_account
        account = t.credit_account if t.kind == "income" else spent
        found.append(SealedLine(t.transfer, *KIND_NAMES.get(t.kind, (t.kind, t.kind)), *account_names(account, titles),
                                t.counterparty, t.amount_fen, datetime_text(t.post_time), t.voucher_sha256))
    return found


def compound_name(path: str) -> str:
    return "compounds/" + path.replace("/", "~")


async def _all_disclosures(b: Backends, path: str) -> list[disclosure_pb2.Disclosure]:
    found: list[disclosure_pb2.Disclosure] = []
    token = ""
    while True:
        page = await b.disclosures.ListDisclosures(
            disclosure_pb2.ListDisclosuresRequest(compound_path=path, page_size=100, page_token=token))
        found.extend(page.disclosures)
        token = page.next_page_token
        if not token:
            return found


async def _children(b: Backends, path: str) -> list[org_pb2.OrgUnit]:
    units: list[org_pb2.OrgUnit] = []
    token = ""
    while True:
        page = await b.org.ListOrgUnits(org_pb2.ListOrgUnitsRequest(parent_path=path, page_size=500, page_token=token))
        units.extend(page.org_units)
        token = page.next_page_token
        if not token:
            return units


async def households(b: Backends, path: str) -> list[tuple[str, str]]:
    """Every household of the compound as (path, `1栋 101室`)."""
    buildings = [u for u in await _children(b, path) if u.kind == org_pb2.ORG_UNIT_KIND_BUILDING]
    per_building = await asyncio.gather(*(_children(b, u.path) for u in buildings))
    return [(h.path, f"{building.display_name} {h.display_name}")
            for building, units in zip(buildings, per_building, strict=True)
            for h in units if h.kind == org_pb2.ORG_UNIT_KIND_HOUSEHOLD]


async def _ancestors(b: Backends, unit: org_pb2.OrgUnit) -> list[org_pb2.OrgUnit]:
    parents = [unit.parent_path.rsplit("/", i)[0] for i in range(unit.parent_path.count("/") + 1)]
    found = await asyncio.gather(*(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=p)) for p in parents if p))
    return [r.org_unit for r in reversed(found)]


async def _budget(b: Backends, path: str, year: int) -> account_pb2.Budget | None:
    try:
        reply = await b.accounts.GetBudget(account_pb2.GetBudgetRequest(name=f"{compound_name(path)}/budgets/{year}"))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    budget: account_pb2.Budget = reply.budget
    return budget


async def load(b: Backends, path: str) -> CompoundView:
    """Raises AioRpcError NOT_FOUND when there is no such unit (the page answers 404)."""
    unit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path))).org_unit
    disclosures, verdict, ancestors, homes = await asyncio.gather(
        _all_disclosures(b, path),
        b.disclosures.VerifyDisclosureChain(disclosure_pb2.VerifyDisclosureChainRequest(compound_path=path)),
        _ancestors(b, unit),
        households(b, path),
    )
    latest = disclosures[-1] if disclosures else None
    year = int(latest.period[:4]) if latest else 0
    budget, full = await asyncio.gather(
        _budget(b, path, year) if year else _none(),
        b.disclosures.GetDisclosure(disclosure_pb2.GetDisclosureRequest(name=latest.name)) if latest else _none(),
    )
    chain = Chain(verdict.valid, verdict.checked, verdict.broken_disclosure.rsplit("/", 1)[-1] if
                  verdict.broken_disclosure else "", verdict.reason,
                  verdict.published_head_seal_hash if verdict.head_checked else "", verdict.published_head_period)
    view = CompoundView(path, unit, ancestors, disclosures, budget, chain, homes)
    titles = {line.code: line.title for line in budget.lines} if budget else {}
    if latest is not None:
        view.income = [Line(x.account, *account_names(x.account), x.amount_fen) for x in latest.income]
        view.expenses = [Line(x.account, *account_names(x.account, titles), x.amount_fen, x.budget_fen,
                              x.year_actual_fen) for x in latest.expenses]
    if latest is not None:
        view.fund_moves = fund_moves(latest)
    if full is not None:
        view.sealed_lines = sealed_lines(full.disclosure, titles)
    if budget is not None:
        view.budget_rows = [BudgetRow(line.code, *account_names(f"expense:{line.code}", titles), line.amount_fen,
                                      line.actual_fen) for line in budget.lines]
    return view


__all__ = ["CompoundView", "date_text", "datetime_text", "households", "load"]
