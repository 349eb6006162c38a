"""Seeds the demo data set (linli_runtime/demo/chengdu.toml): Chongzhou's 14 adopted + 3
importing trust-model compounds and Fengshu's org path. Idempotent: units that exist are
skipped, so starting twice adds nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, bodies_pb2, org_pb2, project_pb2, rollout_pb2, vote_pb2
from linli_governance import (
    accounts,
    bodies,
    disclosures,
    formation,
    names,
    org_tree,
    owners,
    projects,
    rollout,
    service_levels,
    votes,
    vouchers,
)
from linli_governance.tables import VOTES, AccountSettings, UnitOwner
from linli_governance.vouchers import VoucherStore
from linli_runtime import demo, times
from linli_runtime.demo import org_tree as demo_org_tree
from linli_runtime.events.envelope import EventFactory
from linli_runtime.server import ServiceApp

log = logging.getLogger("linli.governance.demo")

STAGES_TO = {
    "adopted": [
        rollout_pb2.ROLLOUT_STAGE_SURVEYED,
        rollout_pb2.ROLLOUT_STAGE_PILOT,
        rollout_pb2.ROLLOUT_STAGE_IMPORTING,
        rollout_pb2.ROLLOUT_STAGE_ADOPTED,
    ],
    "importing": [rollout_pb2.ROLLOUT_STAGE_SURVEYED, rollout_pb2.ROLLOUT_STAGE_IMPORTING],
}
COMPOUND_TYPES = {"commercial": org_pb2.COMPOUND_TYPE_COMMERCIAL, "resettlement": org_pb2.COMPOUND_TYPE_RESETTLEMENT}


def demo_units() -> list[tuple[org_tree.NewUnit, str]]:
    """Every unit to seed, parents first, with the rollout stage for compounds ('' otherwise):
    the runtime's demo tree, which the other services learn too."""
    return [
        (
            org_tree.NewUnit(
                u.parent_path,
                u.slug,
                u.kind,
                u.name,
                u.name_en,
                compound_type=COMPOUND_TYPES[u.compound_type] if u.compound_type else 0,
            ),
            u.stage,
        )
        for u in demo_org_tree.units()
    ]


async def seed(session: AsyncSession, make_event: EventFactory, when: datetime) -> int:
    created = 0
    for unit, stage in demo_units():
        if await org_tree.find(session, unit.path) is not None:
            continue
        await org_tree.create(session, make_event, unit, when=when)
        created += 1
        for step in STAGES_TO.get(stage, []):
            await rollout.advance(
                session, unit.path, step, date="2026-01-15", note="demo data", working_group=[], when=when, force=True
            )
    return created


SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
AREAS_DM2 = [8_650, 9_120, 10_480, 8_650, 9_120, 10_480, 11_730, 8_650, 9_120, 10_480, 12_060, 9_120]


def _at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=times.SHANGHAI).astimezone(UTC)


PAYEES = {
    "cleaning": "示例保洁服务部 (placeholder)",
    "security": "示例保安服务公司 (placeholder)",
    "greening": "示例园林绿化队 (placeholder)",
    "repairs": "示例维修服务部 (placeholder)",
    "overhead_wires": "示例电力安装队 (placeholder)",
}


def demo_pdf(text: str) -> bytes:
    """A one-page PDF saying `text` (ASCII): the demo's stand-in for a scanned invoice."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 360 144]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
        + f"4 0 obj<</Length {len(stream)}>>stream\n".encode()
        + stream
        + b"\nendstream endobj\n5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


async def demo_voucher(session: AsyncSession, store: VoucherStore, text: str, when: datetime) -> accounts.Voucher:
    """Upload the demo's invoice for `text`; name it as the bookkeeper would."""
    stored = await vouchers.upload(
        session,
        store,
        SHENGJIAN,
        demo_pdf(text),
        media_type="application/pdf",
        filename=f"{text}.pdf",
        uploaded_by="demo",
        when=when,
    )
    return accounts.Voucher(file_ref=f"{text}.pdf", sha256=stored.row.sha256)


async def seed_shengjian_books(session: AsyncSession, make_event: EventFactory, store: VoucherStore) -> bool:
    """An illustrative trust account for Shengjian (生建小区; the article names the practice,
    not the figures): households, committee, contract, a budget the owners approve by vote, two
    months of postings with their invoices stored, the service standards measured, and their
    sealed disclosures with the surplus share moved to the maintenance fund and a repair paid
    from it under the owners' vote."""
    building = f"{SHENGJIAN}/b1"
    if await org_tree.find(session, building) is not None:
        return False
    when = _at(1, 10)
    await org_tree.create(
        session, make_event, org_tree.NewUnit(SHENGJIAN, "b1", org_tree.BUILDING, "1栋", "Building 1"), when=when
    )
    for i, area in enumerate(AREAS_DM2):
        floor, unit = divmod(i, 4)
        await org_tree.create(
            session,
            make_event,
            org_tree.NewUnit(
                building,
                f"h{floor + 1}0{unit + 1}",
                org_tree.HOUSEHOLD,
                f"{floor + 1}0{unit + 1}室",
                exclusive_area_dm2=area,
            ),
            when=when,
        )
    fund: dict[str, Any] = demo.load()["chongzhou"]["shengjian_fund"]
    await accounts.update_settings(
        session,
        AccountSettings(
            compound_path=SHENGJIAN,
            approval_threshold_fen=500_000,
            surplus_share_bp=int(fund["surplus_share_bp"]),
            period_kind=account_pb2.PERIOD_KIND_MONTHLY,
        ),
    )
    await bodies.update_committee(
        session,
        bodies.NewCommittee(
            compound_path=SHENGJIAN,
            formation_date="2026-03-01",
            term_end_date="2031-02-28",
            members=[
                bodies.Member("业委会主任（示例）", bodies_pb2.COMMITTEE_ROLE_CHAIR, f"{building}/h101"),
                bodies.Member("业委会委员（示例）", bodies_pb2.COMMITTEE_ROLE_MEMBER, f"{building}/h203"),
            ],
        ),
        when=when,
    )
    await bodies.update_contract(
        session,
        bodies.NewContract(
            compound_path=SHENGJIAN,
            trustee_name="示例物业服务有限公司 (placeholder)",
            start_date="2026-04-01",
            end_date="2029-03-31",
            income_share_bp=800,
            cap_fen=600_000,
            standards=[
                bodies.Standard(
                    "sweeping",
                    "公共区域每日清扫 common areas swept daily",
                    "times per week",
                    7,
                    bodies_pb2.STANDARD_DIRECTION_AT_LEAST,
                ),
                bodies.Standard(
                    "repair_response",
                    "报修24小时内响应 repairs answered within 24 hours",
                    "hours",
                    24,
                    bodies_pb2.STANDARD_DIRECTION_AT_MOST,
                ),
            ],
            supervisor_name="信托监察人（示例）",
        ),
    )
    budget = await accounts.create_budget(
        session,
        SHENGJIAN,
        2026,
        [
            accounts.NewBudgetLine("cleaning", "保洁 Cleaning", 9_600_000),
            accounts.NewBudgetLine("security", "秩序维护 Security", 12_000_000),
            accounts.NewBudgetLine("greening", "绿化 Greening", 2_400_000),
            accounts.NewBudgetLine("repairs", "共用设施维修 Repairs", 6_000_000),
            accounts.NewBudgetLine("overhead_wires", "飞线整治 Overhead wires", 1_500_000),
        ],
    )
    # The owners' register: the last two units of building 1 are still unsold, the developer's
    # (together one owner, as art. 278's judicial interpretation counts them).
    households = [path for path, _ in await org_tree.households(session, SHENGJIAN)]
    for unsold in households[-2:]:
        await owners.register_unit(
            session,
            UnitOwner(household_path=unsold, compound_path=SHENGJIAN, holding=vote_pb2.UNIT_HOLDING_DEVELOPER_HELD),
        )
    # Budgets bind: the owners approve the year's budget before anything is spent against it.
    await owners_vote(
        session,
        households,
        title="2026年度物业预算 The 2026 budget",
        matter=vote_pb2.VOTE_MATTER_BUDGET,
        month=3,
        subject=names.budget_name(SHENGJIAN, budget.budget.year),
    )
    wires = await projects.create(
        session,
        SHENGJIAN,
        kind=project_pb2.PROJECT_KIND_OVERHEAD_WIRES,
        title="飞线整治 Tidy the overhead wires",
        budget_line="overhead_wires",
        budget_fen=1_500_000,
        when=_at(9, 1),
    )
    wires_id = wires.project.project_id
    months = {
        9: (
            [
                (account_pb2.INCOME_CATEGORY_PROPERTY_FEES, 2_860_000),
                (account_pb2.INCOME_CATEGORY_PARKING, 420_000),
                (account_pb2.INCOME_CATEGORY_EBIKE_CHARGING, 96_000),
            ],
            [("cleaning", 480_000), ("security", 499_000), ("greening", 180_000)],
        ),
        10: (
            [
                (account_pb2.INCOME_CATEGORY_PROPERTY_FEES, 2_910_000),
                (account_pb2.INCOME_CATEGORY_PARKING, 436_000),
                (account_pb2.INCOME_CATEGORY_ADVERTISING, 120_000),
                (account_pb2.INCOME_CATEGORY_EBIKE_CHARGING, 104_000),
            ],
            [("cleaning", 480_000), ("security", 499_000), ("overhead_wires", 460_000)],
        ),
    }
    # What the trustee's service standards measured (the repair answered late in October).
    levels = {
        9: [("sweeping", 7, ""), ("repair_response", 18, "")],
        10: [("sweeping", 7, ""), ("repair_response", 30, "10月12日水泵报修次日傍晚才到场 the pump call waited 30 h")],
    }
    for month, (incomes, expenses) in months.items():
        for day, (category, amount) in enumerate(incomes, start=3):
            await accounts.record_income(session, SHENGJIAN, category, amount, "demo", when=_at(month, day))
        for use in (u for u in fund["uses"] if u["month"] == month):
            await spend_from_fund(session, store, households, use, month)
        for day, (line, amount) in enumerate(expenses, start=12):
            # Below the approval threshold (5,000 yuan), so these post at once.
            await accounts.record_expense(
                session,
                SHENGJIAN,
                budget_line=line,
                amount=amount,
                memo="demo",
                voucher=await demo_voucher(session, store, f"invoice 2026-{month:02d} {line}", _at(month, day)),
                counterparty=PAYEES[line],
                owners_decision="",
                when=_at(month, day),
                project_id=wires_id if line == "overhead_wires" else "",
            )
        for code, measured, note in levels[month]:
            await service_levels.record(
                session,
                SHENGJIAN,
                f"2026-{month:02d}",
                code,
                measured=measured,
                note=note,
                recorded_by="demo",
                when=_at(month, 28),
            )
        await disclosures.close_period(session, make_event, SHENGJIAN, f"2026-{month:02d}", when=_at(month + 1, 1, 9))
    return True


async def owners_vote(
    session: AsyncSession,
    households: list[str],
    *,
    title: str,
    matter: int,
    month: int,
    subject: str = "",
    amount_fen: int = 0,
    purpose: str = "",
) -> str:
    """An owners' vote of Shengjian held from the 2nd to the 9th of `month`: all households but
    two take part, one of them against; closed on the 10th. Returns the vote's name."""
    vote = await votes.create(
        session,
        SHENGJIAN,
        title=title,
        matter=matter,
        subject=subject,
        close_time=_at(month, 9, 20),
        when=_at(month, 2),
        amount_fen=amount_fen,
        purpose=purpose,
    )
    for i, household in enumerate(households[:-2]):
        choice = vote_pb2.BALLOT_CHOICE_AGAINST if i == 0 else vote_pb2.BALLOT_CHOICE_FOR
        await votes.cast(
            session,
            SHENGJIAN,
            vote.vote.vote_id,
            household_path=household,
            choice=choice,
            channel=vote_pb2.BALLOT_CHANNEL_ONLINE,
            entered_by="demo",
            when=_at(month, 3 + i % 5),
        )
    closed = await votes.close(session, SHENGJIAN, vote.vote.vote_id, when=_at(month, 10))
    return closed.name


async def spend_from_fund(
    session: AsyncSession, store: VoucherStore, households: list[str], use: dict[str, Any], month: int
) -> None:
    """The owners vote to use the maintenance fund, then the trustee pays the contractor from
    the fund citing the vote."""
    decision = await owners_vote(
        session,
        households,
        title=use["title"],
        matter=vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND,
        month=month,
        amount_fen=int(use["amount_fen"]),
        purpose=use["purpose"],
    )
    await accounts.spend_fund(
        session,
        SHENGJIAN,
        owners_decision=decision,
        amount=int(use["amount_fen"]),
        memo="",
        voucher=await demo_voucher(session, store, f"invoice 2026-{month:02d} maintenance fund", _at(month, 15)),
        counterparty=use["counterparty"],
        when=_at(month, 15),
    )


JIANGNANTING = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"


async def seed_jiangnanting_formation(session: AsyncSession, make_event: EventFactory) -> bool:
    """Jiangnanting (江楠庭小区) had no owners' committee; the community party committee leads the
    forming of its first one (the article). The demo shows it under way: the preparatory group
    set up and the candidates nominated, the election still to be called."""
    building = f"{JIANGNANTING}/b1"
    if await org_tree.find(session, building) is not None:
        return False
    when = _at(10, 15)
    await org_tree.create(
        session, make_event, org_tree.NewUnit(JIANGNANTING, "b1", org_tree.BUILDING, "1栋", "Building 1"), when=when
    )
    homes = []
    for i in range(7):
        unit = await org_tree.create(
            session,
            make_event,
            org_tree.NewUnit(building, f"h{i + 1:03d}", org_tree.HOUSEHOLD, f"{i + 1}号", exclusive_area_dm2=9_500),
            when=when,
        )
        homes.append(unit.path)
    P = bodies_pb2.PreparatoryParty
    await formation.start(
        session,
        JIANGNANTING,
        "2026-10-15",
        [
            formation.GroupMember("怀远镇政府代表（示例）", P.PREPARATORY_PARTY_STREET_OFFICE),
            formation.GroupMember("定江桥社区党委代表（示例）", P.PREPARATORY_PARTY_COMMUNITY),
            *(formation.GroupMember(f"业主代表{i + 1}（示例）", P.PREPARATORY_PARTY_OWNER, homes[i]) for i in range(3)),
        ],
        when=when,
    )
    await formation.nominate(
        session,
        JIANGNANTING,
        [
            bodies.Member(
                f"候选人{i + 1}（示例）",
                bodies_pb2.COMMITTEE_ROLE_CHAIR if i == 0 else bodies_pb2.COMMITTEE_ROLE_MEMBER,
                homes[i],
            )
            for i in range(5)
        ],
        when=_at(11, 5),
    )
    return True


JINSHANG = "chengdu/jinjiang/chenglonglu/fengshu/jinshang-chuntian"
# The residents' side (issue 13): Ms Wan's flat in Jinshang Chuntian and her neighbour's, and the
# names of the two Shengjian owners whose demo accounts are bound to their units
# (linli_identity/demo.py; README "Accounts and sign-in").
MS_WAN_HOME = f"{JINSHANG}/b3/h201"
REGISTERED_OWNERS = [("b1/h101", "sj-0101", "王女士"), ("b1/h102", "sj-0102", "陈先生")]
OPEN_VOTE_TITLE = "在1栋旁增设电动车充电棚 Add an e-bike charging shed beside building 1"


async def seed_residents(session: AsyncSession, make_event: EventFactory, now: datetime) -> bool:
    """What residents need to try the portal's My page: homes, names in the owners' register, and
    an owners' vote open now (one more whenever the last has closed)."""
    created = False
    building = f"{JINSHANG}/b3"
    if await org_tree.find(session, JINSHANG) is not None and await org_tree.find(session, building) is None:
        await org_tree.create(
            session, make_event, org_tree.NewUnit(JINSHANG, "b3", org_tree.BUILDING, "3栋", "Building 3"), when=now
        )
        for slug, area in (("h201", 6_250), ("h202", 7_480)):
            await org_tree.create(
                session,
                make_event,
                org_tree.NewUnit(building, slug, org_tree.HOUSEHOLD, f"{slug[1:]}室", exclusive_area_dm2=area),
                when=now,
            )
        created = True
    if await org_tree.find(session, building) is not None:
        # Mr Liu's flat is on the register, so the committee reviewing his household claim
        # (linli_identity/demo.py) sees the register's name beside the one he gave.
        await owners.register_unit(
            session,
            UnitOwner(household_path=f"{building}/h202", compound_path=JINSHANG, owner_id="jc-0302",
                      owner_name="刘先生", holding=vote_pb2.UNIT_HOLDING_OWNED),
        )
    if await org_tree.find(session, f"{SHENGJIAN}/b1") is None:
        return created
    for unit, owner_id, name in REGISTERED_OWNERS:
        await owners.register_unit(
            session,
            UnitOwner(household_path=f"{SHENGJIAN}/{unit}", compound_path=SHENGJIAN, owner_id=owner_id,
                      owner_name=name, holding=vote_pb2.UNIT_HOLDING_OWNED),
        )
    conn = await session.connection()
    still_open = (
        await conn.execute(select(VOTES.c.vote_id).where(VOTES.c.compound_path == SHENGJIAN, VOTES.c.closed.is_(False)))
    ).first()
    if still_open is None:
        await votes.create(
            session, SHENGJIAN, title=OPEN_VOTE_TITLE, matter=vote_pb2.VOTE_MATTER_OTHER, subject="",
            close_time=now + timedelta(days=30), when=now,
        )
        created = True
    return created


async def seed_demo_data(app: ServiceApp) -> None:
    """The app's start-up hook (`LINLI_DEMO_DATA=true`): everything in one transaction."""
    async with app.db.transaction() as session:
        created = await seed(session, app.make_event, app.clock.now())
        # The GovernanceApp's voucher store (the hook is typed for any ServiceApp).
        store: VoucherStore = app.vouchers  # type: ignore[attr-defined]
        books = await seed_shengjian_books(session, app.make_event, store)
        forming = await seed_jiangnanting_formation(session, app.make_event)
        homes = await seed_residents(session, app.make_event, app.clock.now())
    log.info(
        "demo data seeded",
        extra={"org_units_created": created, "shengjian_books": books, "jiangnanting_formation": forming,
               "residents": homes},
    )
