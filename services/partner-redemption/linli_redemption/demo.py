"""Fengshu's partners from the demo data set (chengdu.toml): the 41 member units of the
regional party-building joint meeting, the 18 signed Red Maple partners and the 8 merchants
accepting points (one named in the article, the rest placeholders), a small catalogue for each
merchant, one demo POS terminal with a fixed, published secret (demo only), the weekly duty
rotation, and the three lists: the 8 flagship co-building projects (ILLUSTRATIVE: the article
counts them without naming them), each a need met by a partner's resource with its history,
one more resource and one need still open (a Saturday meal). Idempotent: every row has a fixed
id and is inserted only when missing."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.community import NEED_MATCHED, NEED_MET, NEED_OPEN
from linli_redemption.duty import Duty
from linli_redemption.partners import MEMBER_UNIT, MERCHANT, SIGNED_PARTNER
from linli_redemption.projects import DONE, IN_PROGRESS, OPEN
from linli_redemption.tables import (
    DUTY_ROTATIONS,
    KNOWN_ORG_UNITS,
    NEEDS,
    PARTNERS,
    PROJECT_CHANGES,
    PROJECT_RESOURCES,
    PROJECTS,
    RESOURCES,
    REWARDS,
    TERMINALS,
)
from linli_redemption.terminals import hash_secret
from linli_runtime import demo, org_units, times
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.transactions import fingerprint, run_in_transaction

log = logging.getLogger("linli.redemption.demo")

DEMO_MERCHANT = "jinchengyijing-health"
DEMO_TERMINAL = "fengshu-demo-pos"
# Published on purpose (README): the demo terminal's credential. Never seeded outside demo data.
DEMO_TERMINAL_SECRET = "demo-only-fengshu-pos-secret"
DEMO_SALT = "demo"

PLACEHOLDER_MERCHANTS = [
    ("fengxiang-canteen", "枫香小厨", "Fengxiang community canteen"),
    ("maple-barber", "枫树理发店", "Maple barber shop"),
    ("chenglong-pharmacy", "成龙大药房", "Chenglong pharmacy"),
    ("fengshu-supermarket", "枫树便民超市", "Fengshu corner supermarket"),
    ("neighbour-laundry", "邻里洗衣房", "Neighbourhood laundry"),
    ("fengshu-bookshop", "枫叶书屋", "Maple Leaf bookshop"),
    ("jinjiang-repair", "锦江家电维修", "Jinjiang appliance repair"),
]
CATALOGUES = {
    DEMO_MERCHANT: [("blood-pressure-check", "血压测量", 10, -1),
                    ("health-consultation", "健康咨询（30分钟）", 30, 100),
                    ("flu-vaccine-voucher", "流感疫苗抵用券", 80, 20)],
    "fengxiang-canteen": [("lunch-set", "爱心午餐", 15, 200)],
}
DEFAULT_REWARDS = [("voucher-10", "10元代金券", 20, 50)]


async def seed_demo(db: Database, clock: Clock) -> None:
    # The places the demo names, as governance's events announce them (they may come later).
    await org_units.learn_demo_tree(db, KNOWN_ORG_UNITS, clock.now())
    data = demo.load()["fengshu"]
    now = clock.now()
    await run_in_transaction(db, lambda conn: _seed(conn, now, data))
    log.info("demo data seeded", extra={"community": data["path"]})


async def _insert_missing(conn: AsyncConnection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    where = [table.c[k] == v for k, v in key.items()]
    if (await conn.execute(sa.select(sa.literal(1)).select_from(table).where(*where))).first() is None:
        await conn.execute(table.insert().values(**key, **values))


async def _seed(conn: AsyncConnection, now: datetime, data: dict[str, Any]) -> None:
    path = data["path"]
    rows: list[tuple[str, str, str, str, bool]] = []
    for i in range(1, data["member_units"] + 1):
        rows.append((f"member-unit-{i:02d}", MEMBER_UNIT, f"共建成员单位{i:02d}", f"Member unit {i:02d}", True))
    for i in range(1, data["partners_signed"] + 1):
        rows.append((f"partner-{i:02d}", SIGNED_PARTNER, f"红枫社区合伙人{i:02d}", f"Red Maple partner {i:02d}",
                     True))
    named = {m["slug"]: m for m in data["merchant_list"]}
    for slug, m in named.items():
        rows.append((slug, MERCHANT, m["name"], m["name_en"], False))
    for slug, name, name_en in PLACEHOLDER_MERCHANTS[: data["merchants"] - len(named)]:
        rows.append((slug, MERCHANT, name, name_en, True))
    for pid, kind, name, name_en, placeholder in rows:
        await _insert_missing(conn, PARTNERS, {"id": pid}, dict(
            community_path=path, kind=kind, display_name=name, display_name_en=name_en, placeholder=placeholder,
            create_time=now, agreement="" if kind == MEMBER_UNIT else f"agreement {pid} (placeholder)"))
        if kind == MERCHANT:
            for rid, rname, points, stock in CATALOGUES.get(pid, DEFAULT_REWARDS):
                await _insert_missing(conn, REWARDS, {"merchant_id": pid, "id": rid},
                                      dict(display_name=rname, points=points, stock=stock, create_time=now))
    # The member units take weekly duty in turn (the article: "rotating duty"; order a placeholder).
    units = ",".join(f"member-unit-{i:02d}" for i in range(1, data["member_units"] + 1))
    await _insert_missing(conn, DUTY_ROTATIONS, {"community_path": path}, dict(
        partner_ids=units, start_date="2026-01-05", period_days=7, version="demo"))
    await _insert_missing(conn, TERMINALS, {"id": DEMO_TERMINAL}, dict(
        merchant_id=DEMO_MERCHANT, display_name="demo POS (front desk)", secret_salt=DEMO_SALT,
        secret_hash=hash_secret(DEMO_SALT, DEMO_TERMINAL_SECRET), create_time=now, secret_time=now))
    await _seed_lists(conn, path, data)


def _at(day: str, hour: int = 10) -> datetime:
    """`hour` o'clock China time on `day`."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=times.SHANGHAI).astimezone(UTC)


async def _need(conn: AsyncConnection, path: str, need_id: str, entry: dict[str, Any], title: str, state: str) -> None:
    received = _at(entry["received"], 9)
    await _insert_missing(conn, NEEDS, {"id": need_id}, dict(
        community_path=path, title=title, detail="", raised_by=entry.get("raised_by", ""),
        category=entry["category"], receive_time=received, create_time=received + timedelta(hours=2),
        duty_partner_id=await Duty.on_duty(conn, path, date.fromisoformat(entry["received"])), state=state))


async def _resource(conn: AsyncConnection, path: str, resource_id: str, entry: dict[str, Any], title: str,
                    offered: datetime) -> None:
    await _insert_missing(conn, RESOURCES, {"id": resource_id}, dict(
        community_path=path, title=title, detail="", partner_id=entry["partner"], category=entry["category"],
        weekdays=",".join(map(str, entry.get("weekdays", []))), capacity=entry.get("capacity", 0),
        create_time=offered))


async def _seed_lists(conn: AsyncConnection, path: str, data: dict[str, Any]) -> None:
    for entry in data["flagship_list"]:
        slug, state = entry["slug"], entry["state"]
        need_id, resource_id, project_id = f"n-demo-{slug}", f"res-demo-{slug}", f"prj-demo-{slug}"
        await _need(conn, path, need_id, entry, entry["need"], NEED_MET if state == DONE else NEED_MATCHED)
        created = _at(entry["received"]) + timedelta(days=7)
        await _resource(conn, path, resource_id, entry, entry["resource"], created - timedelta(days=1))
        if (await conn.execute(sa.select(PROJECTS.c.id).where(PROJECTS.c.id == project_id))).first() is not None:
            continue
        # The history: created, started a week later, done three months after that.
        changes = [("", OPEN, "", created)]
        if state in (IN_PROGRESS, DONE):
            changes.append((OPEN, IN_PROGRESS, "启动", created + timedelta(days=7)))
        if state == DONE:
            changes.append((IN_PROGRESS, DONE, entry["outcome"], created + timedelta(days=97)))
        last = changes[-1][3]
        await conn.execute(PROJECTS.insert().values(
            id=project_id, community_path=path, request_id=f"demo-{slug}",
            fingerprint=fingerprint(entry["title"], need_id, resource_id, entry["owner"]), title=entry["title"],
            need_id=need_id, resource_ids=resource_id, owner=entry["owner"], state=state,
            outcome=entry.get("outcome", ""), create_time=created, update_time=last,
            close_time=last if state == DONE else None))
        await conn.execute(PROJECT_RESOURCES.insert().values(project_id=project_id, resource_id=resource_id))
        for from_state, to_state, note, when in changes:
            await conn.execute(PROJECT_CHANGES.insert().values(project_id=project_id, from_state=from_state,
                                                               to_state=to_state, note=note, actor="demo",
                                                               change_time=when))
    for entry in data["more_resources"]:
        await _resource(conn, path, f"res-demo-{entry['slug']}", entry, entry["title"], _at("2026-06-01"))
    for entry in data["open_needs"]:
        await _need(conn, path, f"n-demo-{entry['slug']}", entry, entry["title"], NEED_OPEN)
