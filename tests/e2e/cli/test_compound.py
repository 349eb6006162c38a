"""`linli compound account | budget | disclosures | verify` on the demo's Shengjian and on a
compound of the test's own, whose disclosure the test then tampers with."""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from datetime import datetime, timedelta

import grpc

from linli.governance.v1 import (
    account_pb2,
    account_pb2_grpc,
    disclosure_pb2,
    disclosure_pb2_grpc,
    org_pb2,
    org_pb2_grpc,
)
from linli_cli.output import CHINA
from linli_runtime.auth import Role
from tests.e2e.cli.clikit import FENGSHU, SHENGJIAN, Cli, fresh
from tests.e2e.governance.books import add_households, approved_budget, spend

GOVERNANCE = "trust-governance"


def last_month() -> str:
    first = datetime.now(CHINA).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def new_compound(cli: Cli, *, seal: bool = True) -> str:
    """A compound in Fengshu with two households, a budget its owners approved, one income, one
    expense and last month sealed (unless `seal` is false)."""

    async def work(channel: grpc.aio.Channel) -> str:
        org = org_pb2_grpc.OrgServiceStub(channel)
        unit = (await org.CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
            parent_path=FENGSHU, slug=fresh("cli"), kind=org_pb2.ORG_UNIT_KIND_COMPOUND, display_name="测试小区",
            compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL, request_id=uuid.uuid4().hex))).org_unit
        accounts = account_pb2_grpc.TrustAccountServiceStub(channel)
        homes = await add_households(channel, unit.path)
        await approved_budget(channel, unit.path, homes, [
            account_pb2.BudgetLine(code="cleaning", title="保洁 Cleaning", amount_fen=1_000_000),
            account_pb2.BudgetLine(code="repairs", title="维修 Repairs", amount_fen=500_000)])
        await accounts.RecordIncome(account_pb2.RecordIncomeRequest(
            compound_path=unit.path, category=account_pb2.INCOME_CATEGORY_PARKING, amount_fen=120_000,
            request_id=uuid.uuid4().hex))
        await spend(channel, unit.path, "cleaning", 45_000, memo="保洁 November")
        if seal:
            await disclosure_pb2_grpc.DisclosureServiceStub(channel).ClosePeriod(disclosure_pb2.ClosePeriodRequest(
                compound_path=unit.path, period=last_month(), request_id=uuid.uuid4().hex))
        return str(unit.path)

    return cli.grpc(GOVERNANCE, work)


def test_account_budget_and_disclosures_of_a_compound_match_its_books(cli: Cli) -> None:
    path = new_compound(cli)
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)

    account = cli.run("compound", "account", path, "--json", token=token)
    assert account.code == 0, account.err
    assert account.json["operating_fen"] == 120_000 - 45_000
    balances = {b["account"]: b["balance_fen"] for b in account.json["balances"]}
    assert balances["income:parking"] == -120_000 and balances["expense:cleaning"] == 45_000
    assert sum(balances.values()) == 0
    assert account.json["settings"]["approval_threshold_fen"] == 500_000
    assert "¥750.00" in cli.run("compound", "account", path, token=token).out

    budget = cli.run("compound", "budget", path, "--json", token=token)
    assert budget.code == 0, budget.err
    lines = {x["code"]: x for x in budget.json["lines"]}
    assert lines["cleaning"]["actual_fen"] == 45_000 and lines["cleaning"]["remaining_fen"] == 955_000
    assert budget.json["total_budget_fen"] == 1_500_000 and budget.json["state"] == "approved"
    human = cli.run("compound", "budget", path, token=token).out
    assert "¥10,000.00" in human and "¥450.00" in human and "total" in human

    disclosures = cli.run("compound", "disclosures", path, "--json", token=token)
    assert [d["period"] for d in disclosures.json["disclosures"]] == [last_month()]
    assert cli.run("compound", "verify", path, "--json", token=token).json == {
        "compound_path": path, "valid": True, "checked": 1, "broken_disclosure": "", "reason": ""}


def test_shengjians_demo_books_read_and_verify(cli: Cli) -> None:
    token = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    disclosures = cli.run("compound", "disclosures", SHENGJIAN, "--json", token=token).json["disclosures"]
    assert len(disclosures) >= 2
    assert all(d["previous_seal_hash"] == p["seal_hash"] for p, d in itertools.pairwise(disclosures))
    account = cli.run("compound", "account", SHENGJIAN, "--json", token=token).json
    assert account["maintenance_fund_fen"] == disclosures[-1]["maintenance_fund_balance_fen"]
    verified = cli.run("compound", "verify", SHENGJIAN, token=token)
    assert verified.code == 0 and "verifies" in verified.out


def test_verify_exits_7_naming_a_tampered_disclosure(cli: Cli) -> None:
    path = new_compound(cli)
    name = f"compounds/{path.replace('/', '~')}/disclosures/{last_month()}"
    # No API changes a sealed disclosure (that is the point): tamper with the service's file.
    with sqlite3.connect(cli.database(GOVERNANCE)) as db:
        body = json.loads(db.execute("SELECT body FROM gov_disclosures WHERE name = ?", (name,)).fetchone()[0])
        body["income_fen"] += 100
        db.execute("UPDATE gov_disclosures SET body = ? WHERE name = ?", (json.dumps(body), name))
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    broken = cli.run("compound", "verify", path, "--json", token=token)
    assert broken.failed_with(7, name, "seal_mismatch")
    assert broken.json["valid"] is False and broken.json["broken_disclosure"] == name
    assert cli.run("compound", "verify", path, token=token).failed_with(7, name)


def test_compound_commands_refuse_out_of_scope_missing_and_bad_arguments(cli: Cli) -> None:
    fengshu_worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    cli.refuse([
        *((6, ["permission denied"], ["compound", command, SHENGJIAN], fengshu_worker)
          for command in ("account", "budget", "disclosures", "verify")),
        (4, ["2001"], ["compound", "budget", SHENGJIAN, "--year", "2001"], officer),
        (2, ["--year"], ["compound", "budget", SHENGJIAN, "--year", "1999"], officer),
        (4, ["no-such"], ["compound", "account", "chengdu/chongzhou/longxing/no-such"], officer),
        (2, ["PATH"], ["compound", "verify", "chengdu/chongzhou/乱"], officer),
        (2, ["PATH"], ["compound", "account"], officer),
    ])
