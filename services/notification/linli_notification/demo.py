"""Demo data for `make run`: Fengshu's duty roster (weekdays, Saturday, Sunday), its head, the
canteen 枫香小厨 (closed at weekends) and a restaurant that is open every day. Seeding is
idempotent: fixed ids, inserted only when missing."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification import community as comm
from linli_notification.notices import Prefs, prefs_of, save_prefs
from linli_notification.tables import duty_shift, provider
from linli_runtime.demo import load

HEAD = "worker-he"  # community head (社区书记): last escalation level
# (id, weekday, start, end, worker, backup)
SHIFTS = [
    *[(f"s-fengshu-wd{d}", d, 8 * 60 + 30, 17 * 60 + 30, "worker-li", "worker-chen") for d in range(1, 6)],
    *[(f"s-fengshu-ev{d}", d, 17 * 60 + 30, 24 * 60, "worker-chen", "worker-li") for d in range(1, 6)],
    ("s-fengshu-sat", 6, 0, 24 * 60, "worker-zhao", "worker-sun"),
    ("s-fengshu-sun", 7, 0, 24 * 60, "worker-sun", "worker-zhao"),
]
CANTEEN_HOURS = [[d, 10 * 60 + 30, 19 * 60] for d in range(1, 6)]  # Monday–Friday
RESTAURANT_HOURS = [[d, 10 * 60, 21 * 60] for d in range(1, 8)]
WORKERS = ["worker-he", "worker-li", "worker-chen", "worker-zhao", "worker-sun"]


def fengshu() -> dict[str, Any]:
    return load()["fengshu"]  # type: ignore[no-any-return]


async def seed_connection(conn: AsyncConnection) -> None:
    data = fengshu()
    path = data["path"]
    existing = await comm.settings_of(conn, path)
    if not existing.head_id:
        await comm.save_settings(conn, comm.Settings(path=path, head_id=HEAD))
    have = {r.id for r in await conn.execute(sa.select(duty_shift.c.id).where(duty_shift.c.community_path == path))}
    for ident, weekday, start, end, worker, backup in SHIFTS:
        if ident not in have:
            await conn.execute(duty_shift.insert().values(
                id=ident, community_path=path, weekday=weekday, on_date=None, start_minute=start, end_minute=end,
                worker_id=worker, backup_id=backup, note="demo roster"))
    have = {r.id for r in await conn.execute(sa.select(provider.c.id).where(provider.c.community_path == path))}
    for ident, name, phone, priority, hours in (
        ("p-fengxiang-canteen", data["canteen"], "028-8000-0001", 0, CANTEEN_HOURS),
        ("p-linjia-restaurant", "邻家小馆", "028-8000-0002", 1, RESTAURANT_HOURS),
    ):
        if ident not in have:
            await conn.execute(provider.insert().values(
                id=ident, community_path=path, display_name=name, category="meal", phone=phone, priority=priority,
                opening_hours=json.dumps(hours)))
    # Workers get WeChat subscription messages (the local file provider under `make run`).
    for worker in WORKERS:
        prefs = await prefs_of(conn, worker)
        if not prefs.channels:
            await save_prefs(conn, Prefs(worker, channels=["wechat"], wechat_openid=f"openid-{worker}",
                                         subscribed_paths=prefs.subscribed_paths))


async def seed(app: Any) -> None:
    async with app.db.transaction() as session:
        await seed_connection(await session.connection())
