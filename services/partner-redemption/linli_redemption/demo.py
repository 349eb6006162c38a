"""Fengshu's partners from the demo data set (chengdu.toml): the 41 member units of the
regional party-building joint meeting, the 18 signed Red Maple partners and the 8 merchants
accepting points (one named in the article, the rest placeholders), a small catalogue for each
merchant, and one demo POS terminal with a fixed, published secret (demo only). Idempotent:
every row has a fixed id and is inserted only when missing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.partners import MEMBER_UNIT, MERCHANT, SIGNED_PARTNER
from linli_redemption.tables import DUTY_ROTATIONS, PARTNERS, REWARDS, TERMINALS
from linli_redemption.terminals import hash_secret
from linli_runtime import demo
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.transactions import run_in_transaction

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
