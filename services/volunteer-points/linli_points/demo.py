"""Fengshu's part of the demo data set (chengdu.toml): the 5 funding sources the article names
with their budgets, 8 task categories (each paid for by a source), 2 teams, 72 volunteers in 71
families, 84 elders living alone each paired with a family, some points earned this year and
last (drawn on the sources' budgets; last year closed, so its Red Maple Guardians have
certificates), and visits of this month and the last (each with its type: most pairings
on track, a few short — the care schedule reminds and alerts about those). Each day the
platform starts, a "community meeting" of that day (Asia/Shanghai, open for check-in all day)
with the demo volunteer v-001 signed up, so the organiser's QR check-in can be tried at once. Names of people
and the budgets are placeholders (the article gives counts, not names or amounts). Seeding is
idempotent: every row is created once by its fixed id, every credit and budget is a ledger
transfer with a fixed id, so a second start adds nothing."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.activities import CHECK_IN_OPENS_BEFORE, CategoryChange, SignUpState, upsert_category
from linli_points.awards import Awards, rule_of
from linli_points.care import previous_month
from linli_points.funding import FundingKind, budget_transfer_id, create_source, issuing_account
from linli_points.ledger.accounts import ISSUANCE, funding_account, volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.pairings import Confirmation, VisitType, create_elder, create_pairing, visit_month
from linli_points.people import create_family, create_team, create_volunteer, join_team
from linli_points.records import create_once, exists
from linli_points.tables import KNOWN_ORG_UNITS, Activity, SignUp, Visit
from linli_runtime import demo, org_units
from linli_runtime.clock import ManualClock
from linli_runtime.errors import AlreadyExists
from linli_runtime.models import table
from linli_runtime.times import day_bounds, local_day, month_bounds
from linli_runtime.transactions import fingerprint, run_in_transaction

if TYPE_CHECKING:
    from linli_points.app import PointsApp

log = logging.getLogger("linli.points.demo")

# Points per category (the article names the categories, not the points: plausible values).
CATEGORY_POINTS = {
    "governance": 10, "helping-people-in-difficulty": 10, "mediating-disputes": 15, "collecting-opinions": 5,
    "elderly-visits": 5, "environment": 5, "children": 8, "events": 5,
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["秀英", "建国", "桂兰", "志强", "淑珍", "国华", "玉梅", "德明", "丽华", "文斌", "海燕", "春生"]
START = date(2026, 1, 1)
VANGUARD_MEMBERS = 24  # of the 72, also in the party-member vanguard (placeholder share)
VISIT_TYPES = (VisitType.COMPANIONSHIP, VisitType.HOME_CLEANING, VisitType.WARM_SUPPORT, VisitType.HEALTH_CARE)


def person_name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]


async def seed_demo(app: PointsApp) -> None:
    # The places the demo names, as governance's events announce them (they may come later).
    await org_units.learn_demo_tree(app.db, KNOWN_ORG_UNITS, app.clock.now())
    data = demo.load()["fengshu"]
    ledger = Ledger(app.db, app.clock)  # no events: the demo's starting state is not news
    last_year = local_day(ledger.now()).year - 1
    # Last year's points, dated in its December, so that its awards can be given (and their
    # certificates fetched) at once.
    last_years_ledger = Ledger(app.db, ManualClock(datetime(last_year, 12, 1, 2, tzinfo=UTC)))
    awards = Awards(app.db, app.clock, None)
    await run_in_transaction(app.db, lambda conn: _seed(conn, ledger, data, last_years_ledger, awards))
    # The demo volunteer (linli_identity.demo) is v-001: bound to their account, published (once)
    # so that notification delivers v-001's notices to that person's inbox.
    person = data["demo_volunteer"]
    await app.people.bind_account(data["path"], person["volunteer_id"], demo.demo_account_id(person["phone"]))
    today = local_day(ledger.now())
    await run_in_transaction(app.db, lambda conn: _todays_activity(conn, data["path"], today,
                                                                   person["volunteer_id"]))
    log.info("demo data seeded", extra={"community": data["path"], "volunteers": data["volunteers"]})


def todays_activity_id(day: date) -> str:
    return f"demo-meeting-{day:%Y%m%d}"


async def _todays_activity(conn: AsyncConnection, path: str, day: date, volunteer_id: str) -> None:
    """Today's demo activity, its check-in open from midnight to midnight in Shanghai (the
    window opens CHECK_IN_OPENS_BEFORE the start), with the demo volunteer signed up."""
    start, end = day_bounds(day)
    activity_id = todays_activity_id(day)
    await create_once(
        conn, Activity, {"community_path": path, "activity_id": activity_id},
        {"title": f"社区议事会（演示，{day:%m月%d日}全天可扫码签到）", "category": "governance",
         "points": CATEGORY_POINTS["governance"], "start_time": start + CHECK_IN_OPENS_BEFORE, "end_time": end,
         "created_by": "demo"},
        fingerprint("demo-activity", activity_id), "activity")
    if not await exists(conn, SignUp, community_path=path, activity_id=activity_id, volunteer_id=volunteer_id):
        await conn.execute(table(SignUp).insert().values(
            community_path=path, activity_id=activity_id, volunteer_id=volunteer_id,
            state=int(SignUpState.SIGNED_UP), check_in_code=""))


async def _seed(conn: AsyncConnection, ledger: Ledger, data: dict[str, Any], last_years_ledger: Ledger,
                awards: Awards) -> None:
    path = data["path"]
    now = ledger.now()
    last_year = local_day(last_years_ledger.now()).year
    paid_by: dict[str, str] = {}
    for source in data["funding_sources"]:
        await create_source(conn, path, source["slug"], name=source["name"], name_en=source["name_en"],
                            kind=FundingKind[source["kind"].upper()], now=now)
        await ledger.transfer_in(conn, TransferRequest(
            community_path=path, transfer_id=budget_transfer_id(source["slug"], "demo"), debit_account=ISSUANCE,
            credit_account=funding_account(source["slug"]), amount=source["budget"], reason="budget",
            source="演示数据：年度预算 (demo budget)"))
        paid_by.update({slug: source["slug"] for slug in source["categories"]})
    for category in data["task_categories"]:
        slug = category["slug"]
        await upsert_category(conn, path, slug, CategoryChange(
            display_name=category["name"], display_name_en=category["name_en"],
            default_points=CATEGORY_POINTS.get(slug, 5), daily_cap=0,
            monthly_cap=30 if slug == "collecting-opinions" else 0,
            placeholder=bool(category.get("placeholder", False)), funding_source=paid_by.get(slug, ""),
        ))
    for team in data["teams"]:
        await create_team(conn, path, team["slug"], team["name"])

    n_families, n_volunteers, n_elders = data["volunteer_families"], data["volunteers"], data["elders_living_alone"]
    for f in range(1, n_families + 1):
        await create_family(conn, path, f"f-{f:03d}", f"{SURNAMES[f % len(SURNAMES)]}家 (placeholder)", now)
    for v in range(1, n_volunteers + 1):
        volunteer_id, family_id = f"v-{v:03d}", f"f-{min(v, n_families):03d}"  # the last family has two
        await create_volunteer(conn, path, volunteer_id, person_name(v), family_id=family_id, now=now)
        await join_team(conn, path, "little-maple-leaf", volunteer_id, START)
        if v <= VANGUARD_MEMBERS:
            await join_team(conn, path, "red-maple-vanguard", volunteer_id, START)
        category = list(CATEGORY_POINTS)[v % len(CATEGORY_POINTS)]
        await last_years_ledger.transfer_in(conn, TransferRequest(
            community_path=path, transfer_id=f"demo:points-{last_year}:{volunteer_id}",
            debit_account=await issuing_account(conn, path, paid_by.get(category, "")),
            credit_account=volunteer_account(volunteer_id), amount=10 + (v * 53) % 150, reason=category,
            source="demo"))
        try:
            await ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=f"demo:points:{volunteer_id}",
                debit_account=await issuing_account(conn, path, paid_by.get(category, "")),
                credit_account=volunteer_account(volunteer_id), amount=20 + (v * 37) % 180, reason=category,
                source="demo"))
        except AlreadyExists:
            pass  # seeded unfunded by a version before funding sources: those points stay as they were

    # The demo volunteer (+86 138 0000 0005) made many home visits last year: enough to be one of
    # its bronze Red Maple Guardians, so their own page shows an award and its certificate.
    guardian = data["demo_volunteer"]["volunteer_id"]
    await last_years_ledger.transfer_in(conn, TransferRequest(
        community_path=path, transfer_id=f"demo:points-{last_year}:{guardian}:visits",
        debit_account=await issuing_account(conn, path, paid_by.get("elderly-visits", "")),
        credit_account=volunteer_account(guardian), amount=84, reason="elderly-visits", source="demo"))

    # Last year closed: gold, silver and bronze Red Maple Guardians, their certificates ready to
    # draw (AwardService.GetAwardCertificate), no reward handed over yet.
    await awards.close_in(conn, path, last_year, rule_of((0, 0, 0), (0, 0, 0)), closed_by="demo",
                          issuer_name=data["award_issuer"])

    for e in range(1, n_elders + 1):
        elder_id, family = f"e-{e:03d}", (e - 1) % n_families + 1  # 13 families look after two elders
        await create_elder(conn, path, elder_id, f"{person_name(e + 100)} (placeholder)")
        await create_pairing(conn, path, f"p-{e:03d}", elder_id=elder_id, family_id=f"f-{family:03d}",
                             start=START, required=data["visits_per_month"])
        # This month so far: most pairings on track, some short (for the compliance view and
        # the mid-month reminders); last month all but a few (the care schedule's lapse alerts).
        last_month = month_bounds(previous_month(visit_month(now)))[0]
        visits = [(f"demo:visit:{e:03d}:{n}", now - timedelta(minutes=10 * (n + 1)), fingerprint("demo-visit", e, n))
                  for n in range(2 if e <= 60 else 1 if e <= 75 else 0)]
        visits += [(f"demo:visit-before:{e:03d}:{n}", last_month + timedelta(days=3 + 9 * n, hours=2),
                    fingerprint("demo-visit-before", e, n)) for n in range(2 if e <= 80 else 1 if e <= 82 else 0)]
        for n, (visit_id, when, made_of) in enumerate(visits):
            kind = VISIT_TYPES[(e + n) % len(VISIT_TYPES)]
            await create_once(
                conn, Visit, {"community_path": path, "visit_id": visit_id},
                {"pairing_id": f"p-{e:03d}", "month": visit_month(when), "visit_time": when,
                 "volunteer_id": f"v-{family:03d}", "confirmation": int(Confirmation.ELDER), "note": "demo",
                 "visit_type": int(kind)},
                # Demo visits are created once by id; their time is whenever the first seed ran.
                made_of, "visit",
            )
