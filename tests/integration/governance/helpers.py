"""Calling the service as somebody, and building the org tree tests need."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import account_pb2, org_pb2, vote_pb2
from linli_runtime.testing.errors import error_info, has_rich_status

CITY = "chengdu"
DISTRICT = "chengdu/chongzhou"
HUAIYUAN = "chengdu/chongzhou/huaiyuan"
YANGMA = "chengdu/chongzhou/yangma"
JIANGNANTING = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"
JINSHENG = "chengdu/chongzhou/yangma/chongjianglu/jinsheng"


@dataclass(frozen=True)
class Caller:
    token: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    async def __call__(self, method: Any, request: Any) -> Any:
        return await method(request, metadata=self.md)


def rid() -> str:
    return uuid.uuid4().hex


def voucher(text: str = "invoice") -> account_pb2.Voucher:
    """A voucher reference to a file nobody uploaded (for checks that refuse before looking)."""
    return account_pb2.Voucher(file_ref=f"vouchers/{text}.pdf", sha256=hashlib.sha256(text.encode()).hexdigest())


def invoice_pdf(text: str) -> bytes:
    """A small PDF saying `text` (ASCII): an invoice as the tests upload it."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 360 144]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(stream)}>>stream\n".encode()
        + stream
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


async def upload_voucher(gov: Any, compound: str, text: str = "") -> account_pb2.Voucher:
    """Upload an invoice for `compound` (a fresh one unless `text` is given) and refer to it."""
    text = text or f"invoice {rid()}"
    stored = (
        await gov.admin(
            gov.account.UploadVoucher,
            account_pb2.UploadVoucherRequest(
                compound_path=compound,
                content=invoice_pdf(text),
                media_type="application/pdf",
                filename=f"{text}.pdf",
                request_id=rid(),
            ),
        )
    ).voucher
    return account_pb2.Voucher(file_ref=stored.filename, sha256=stored.sha256)


async def expect_error(
    call: Any, code: grpc.StatusCode, field: str | None = None, reason: str | None = None
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == code, f"{error.code()} {error.details()}"
    if field is not None or reason is not None:
        assert has_rich_status(error)
        found_reason, fields = error_info(error)
        reasons = [found_reason]
        if field is not None:
            assert field in fields, f"expected a violation on {field}, got {fields}: {error.details()}"
        if reason is not None:
            assert reason in reasons, f"expected reason {reason}, got {reasons}: {error.details()}"
    return error


async def unit(gov: Any, parent: str, slug: str, kind: int, name: str, **extra: Any) -> org_pb2.OrgUnit:
    reply = await gov.admin(
        gov.org.CreateOrgUnit,
        org_pb2.CreateOrgUnitRequest(parent_path=parent, slug=slug, kind=kind, display_name=name, **extra),
    )
    return reply.org_unit


async def build_chongzhou(gov: Any) -> None:
    """chengdu → chongzhou → huaiyuan/yangma → communities → Jiangnanting, Jinsheng."""
    await unit(gov, "", "chengdu", org_pb2.ORG_UNIT_KIND_CITY, "成都市")
    await unit(gov, CITY, "chongzhou", org_pb2.ORG_UNIT_KIND_DISTRICT, "崇州市")
    await unit(gov, DISTRICT, "huaiyuan", org_pb2.ORG_UNIT_KIND_STREET, "怀远镇")
    await unit(gov, DISTRICT, "yangma", org_pb2.ORG_UNIT_KIND_STREET, "羊马街道")
    await unit(gov, HUAIYUAN, "dingjiangqiao", org_pb2.ORG_UNIT_KIND_COMMUNITY, "定江桥社区")
    await unit(gov, YANGMA, "chongjianglu", org_pb2.ORG_UNIT_KIND_COMMUNITY, "崇江路社区")
    await unit(
        gov,
        f"{HUAIYUAN}/dingjiangqiao",
        "jiangnanting",
        org_pb2.ORG_UNIT_KIND_COMPOUND,
        "江楠庭小区",
        compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL,
    )
    await unit(
        gov,
        f"{YANGMA}/chongjianglu",
        "jinsheng",
        org_pb2.ORG_UNIT_KIND_COMPOUND,
        "金圣小区",
        compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL,
    )


async def add_households(gov: Any, compound: str, areas_dm2: list[int]) -> list[str]:
    await unit(gov, compound, "b1", org_pb2.ORG_UNIT_KIND_BUILDING, "1栋")
    paths = []
    for i, area in enumerate(areas_dm2):
        u = await unit(
            gov,
            f"{compound}/b1",
            f"h{i + 1:03d}",
            org_pb2.ORG_UNIT_KIND_HOUSEHOLD,
            f"{i + 1}号",
            exclusive_area_dm2=area,
        )
        paths.append(u.path)
    return paths


BUDGET_2026 = [
    account_pb2.BudgetLine(code="cleaning", title="保洁 Cleaning", amount_fen=1_200_000),
    account_pb2.BudgetLine(code="repairs", title="维修 Repairs", amount_fen=3_000_000),
    account_pb2.BudgetLine(code="ebike_shed", title="电动车充电棚 E-bike charging shed", amount_fen=5_000_000),
]


async def households_of(gov: Any, compound: str) -> list[str]:
    """Every household of a compound, read through the org tree."""
    found = []
    buildings = await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=compound, page_size=500))
    for building in buildings.org_units:
        homes = await gov.admin(
            gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=building.path, page_size=500)
        )
        found += [h.path for h in homes.org_units if h.kind == org_pb2.ORG_UNIT_KIND_HOUSEHOLD]
    return found


async def approve_by_vote(gov: Any, compound: str, budget: str) -> str:
    """The owners approve a budget: a BUDGET vote every household votes for, closed a minute
    later (the compound gets one household, in building `b0`, if it has none)."""
    homes = await households_of(gov, compound)
    if not homes:
        await unit(gov, compound, "b0", org_pb2.ORG_UNIT_KIND_BUILDING, "0栋")
        homes = [
            (
                await unit(
                    gov, f"{compound}/b0", "h000", org_pb2.ORG_UNIT_KIND_HOUSEHOLD, "0号", exclusive_area_dm2=9_000
                )
            ).path
        ]
    close = Timestamp()
    close.FromDatetime(gov.clock.now() + timedelta(minutes=1))
    committee = gov.caller("owners_committee", compound)
    vote = (
        await committee(
            gov.votes.CreateVote,
            vote_pb2.CreateVoteRequest(
                compound_path=compound,
                title="年度预算表决 Budget vote",
                matter=vote_pb2.VOTE_MATTER_BUDGET,
                subject=budget,
                close_time=close,
                request_id=rid(),
            ),
        )
    ).vote
    for home in homes:
        await gov.caller("resident", home)(
            gov.votes.CastBallot,
            vote_pb2.CastBallotRequest(
                vote=vote.name,
                household_path=home,
                choice=vote_pb2.BALLOT_CHOICE_FOR,
                channel=vote_pb2.BALLOT_CHANNEL_ONLINE,
                request_id=rid(),
            ),
        )
    gov.clock.advance(minutes=1)
    closed = await committee(gov.votes.CloseVote, vote_pb2.CloseVoteRequest(name=vote.name, request_id=rid()))
    assert closed.vote.outcome == vote_pb2.VOTE_OUTCOME_PASSED
    return str(vote.name)


async def with_budget(gov: Any, compound: str, year: int = 2026, *, approved: bool = True) -> account_pb2.Budget:
    """The year's budget (BUDGET_2026's lines), approved by the owners' vote unless told not to:
    spending needs an approved budget."""
    reply = await gov.admin(
        gov.account.CreateBudget,
        account_pb2.CreateBudgetRequest(compound_path=compound, year=year, lines=BUDGET_2026, request_id=rid()),
    )
    if approved:
        await approve_by_vote(gov, compound, reply.budget.name)
        reply = await gov.admin(gov.account.GetBudget, account_pb2.GetBudgetRequest(name=reply.budget.name))
    return reply.budget


async def income(
    gov: Any, who: Caller, compound: str, amount: int, category: int = account_pb2.INCOME_CATEGORY_PROPERTY_FEES
) -> account_pb2.Transfer:
    reply = await who(
        gov.account.RecordIncome,
        account_pb2.RecordIncomeRequest(compound_path=compound, category=category, amount_fen=amount, request_id=rid()),
    )
    return reply.transfer


async def expense(
    gov: Any, who: Caller, compound: str, amount: int, line: str = "cleaning", owners_decision: str = ""
) -> account_pb2.Transfer:
    reply = await who(
        gov.account.RecordExpense,
        account_pb2.RecordExpenseRequest(
            compound_path=compound,
            budget_line=line,
            amount_fen=amount,
            voucher=await upload_voucher(gov, compound),
            counterparty="崇州某保洁服务部",
            owners_decision=owners_decision,
            request_id=rid(),
        ),
    )
    return reply.transfer


async def balances(gov: Any, compound: str) -> dict[str, int]:
    reply = await gov.admin(gov.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=compound))
    found = {b.account: b.balance_fen for b in reply.balances}
    assert sum(found.values()) == 0, f"balances must sum to zero: {found}"
    return found


async def settle_account_settings(gov: Any, compound: str, *, threshold_fen: int, surplus_share_bp: int = 3_000,
                                  period_kind: int = account_pb2.PERIOD_KIND_MONTHLY) -> account_pb2.AccountSettings:
    """Change a compound's account settings the only way one may without an owners' vote: the
    trustee proposes, the owners' committee and the supervisor approve (two more accounts)."""
    proposed = await gov.caller("trustee", compound, subject="trustee-bookkeeper")(
        gov.account.UpdateAccountSettings,
        account_pb2.UpdateAccountSettingsRequest(
            settings=account_pb2.AccountSettings(compound_path=compound, approval_threshold_fen=threshold_fen,
                                                 surplus_share_basis_points=surplus_share_bp,
                                                 period_kind=period_kind),
            request_id=rid()))
    for role, subject, party in (("owners_committee", "committee-chair", account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE),
                                 ("trust_supervisor", "supervisor", account_pb2.APPROVAL_PARTY_SUPERVISOR)):
        approved = await gov.caller(role, compound, subject=subject)(
            gov.account.ApproveSettingsChange,
            account_pb2.ApproveSettingsChangeRequest(name=proposed.change.name, party=party, request_id=rid()))
    assert approved.change.state == account_pb2.SETTINGS_CHANGE_STATE_APPLIED
    settings: account_pb2.AccountSettings = approved.settings
    return settings
