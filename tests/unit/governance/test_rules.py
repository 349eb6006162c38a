"""Pure rules: the trustee's remuneration and the figures a disclosure takes from its entries."""

from __future__ import annotations

from types import SimpleNamespace

from linli_governance.bodies import remuneration_due
from linli_governance.disclosures import ledger_figures

from linli.governance.v1 import account_pb2


def contract(fixed: int = 0, share_bp: int = 0, cap: int = 0) -> SimpleNamespace:
    return SimpleNamespace(fixed_fen=fixed, income_share_bp=share_bp, cap_fen=cap)


def test_remuneration_is_fixed_or_a_capped_share_of_income() -> None:
    assert remuneration_due(None, 1_000_000) == 0
    assert remuneration_due(contract(fixed=80_000), 0) == 80_000
    assert remuneration_due(contract(share_bp=800), 1_000_000) == 80_000
    assert remuneration_due(contract(share_bp=800, cap=50_000), 1_000_000) == 50_000
    assert remuneration_due(contract(share_bp=800), -5_000) == 0  # a net refund month pays nothing
    assert remuneration_due(contract(share_bp=333), 1_001) == 33  # rounds down, in the owners' favour


def entry(
    tid: str,
    debit: str,
    credit: str,
    amount: int,
    kind: int = account_pb2.TRANSFER_KIND_INCOME,
    decision: str = "",
    memo: str = "",
) -> SimpleNamespace:
    return SimpleNamespace(
        transfer_id=tid,
        debit_account=debit,
        credit_account=credit,
        amount_fen=amount,
        kind=kind,
        owners_decision=decision,
        memo=memo,
    )


def test_ledger_figures_net_reversals_and_carry_opening_balances() -> None:
    rows = [
        entry("a", "cash:operating", "income:parking", 500),
        entry("b", "expense:cleaning", "cash:operating", 200, account_pb2.TRANSFER_KIND_EXPENSE),
        entry("c", "cash:operating", "expense:cleaning", 200, account_pb2.TRANSFER_KIND_REVERSAL),
        entry("d", "cash:maintenance_fund", "cash:operating", 150, account_pb2.TRANSFER_KIND_FUND_ALLOCATION),
    ]
    f = ledger_figures(rows, opening_operating=1_000, opening_fund=50)
    assert f["income"] == {"income:parking": 500}
    assert f["expenses"] == {"expense:cleaning": 0}
    assert (f["income_fen"], f["expense_fen"], f["to_maintenance_fund_fen"]) == (500, 0, 150)
    assert (f["operating_balance_fen"], f["maintenance_fund_balance_fen"]) == (1_350, 200)
    assert f["transfer_count"] == 4


def test_the_fund_movements_of_a_period_in_and_out_under_votes() -> None:
    vote = "compounds/c/votes/v1"
    rows = [
        entry("a", "cash:operating", "income:property_fees", 1_000),
        entry("u", "fund_use:maintenance", "cash:maintenance_fund", 300, account_pb2.TRANSFER_KIND_FUND_USE, vote,
              "充电棚维修"),
        entry("r", "cash:maintenance_fund", "fund_use:maintenance", 100, account_pb2.TRANSFER_KIND_REVERSAL),
        entry("f", "cash:maintenance_fund", "cash:operating", 250, account_pb2.TRANSFER_KIND_FUND_ALLOCATION),
    ]
    f = ledger_figures(rows, opening_operating=0, opening_fund=400)
    # A fund use is no expense of the operating budget: the surplus is untouched by it.
    assert (f["income_fen"], f["expense_fen"], f["maintenance_fund_balance_fen"]) == (1_000, 0, 450)
    fund = f["fund"]
    assert (fund["opening_fen"], fund["in_fen"], fund["out_fen"], fund["closing_fen"]) == (400, 350, 300, 450)
    assert [(m["transfer"], m["kind"], m["amount_fen"], m["owners_decision"]) for m in fund["movements"]] == [
        ("u", "use", -300, vote),
        ("r", "reversal", 100, ""),
        ("f", "allocation", 250, ""),
    ]
