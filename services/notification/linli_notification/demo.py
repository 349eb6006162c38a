"""Demo data for `make run`: Fengshu's duty roster (weekdays, Saturday, Sunday), its head, the
canteen 枫香小厨 (closed at weekends) and a restaurant that is open every day. Seeding is
idempotent: fixed ids, inserted only when missing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from linli.notification.v1 import notification_pb2 as pb
from linli_notification import community as comm
from linli_notification import helpdesk
from linli_notification.notices import Prefs, prefs_of, save_prefs
from linli_notification.tables import help_request, known_org_unit, transition
from linli_runtime import org_units
from linli_runtime.demo import demo_account_id, load
from linli_runtime.server import ServiceApp

# Fengshu's community workers: the accounts linli_identity.demo makes for these phones, with a
# community_worker grant in Fengshu (people are their accounts: the roster names accounts).
WORKER_PHONES = {"he": "+8613800000006", "li": "+8613800000003", "chen": "+8613800000016",
                 "zhao": "+8613800000007", "sun": "+8613800000017"}
WORKER_HE, WORKER_LI, WORKER_CHEN, WORKER_ZHAO, WORKER_SUN = (
    demo_account_id(WORKER_PHONES[n]) for n in ("he", "li", "chen", "zhao", "sun"))
HEAD = WORKER_HE  # community head (社区书记): last escalation level
# (id, weekday, start, end, worker, backup)
SHIFTS = [
    *[(f"s-fengshu-wd{d}", d, 8 * 60 + 30, 17 * 60 + 30, WORKER_LI, WORKER_CHEN) for d in range(1, 6)],
    *[(f"s-fengshu-ev{d}", d, 17 * 60 + 30, 24 * 60, WORKER_CHEN, WORKER_LI) for d in range(1, 6)],
    ("s-fengshu-sat", 6, 0, 24 * 60, WORKER_ZHAO, WORKER_SUN),
    ("s-fengshu-sun", 7, 0, 24 * 60, WORKER_SUN, WORKER_ZHAO),
]
CANTEEN_HOURS = [(d, 10 * 60 + 30, 19 * 60) for d in range(1, 6)]  # Monday–Friday
RESTAURANT_HOURS = [(d, 10 * 60, 21 * 60) for d in range(1, 8)]
WORKERS = [WORKER_HE, WORKER_LI, WORKER_CHEN, WORKER_ZHAO, WORKER_SUN]


def fengshu() -> dict[str, Any]:
    return load()["fengshu"]  # type: ignore[no-any-return]


async def seed_connection(conn: AsyncConnection) -> None:
    data = fengshu()
    path = data["path"]
    existing = await comm.settings_of(conn, path)
    if not existing.head_id:
        await comm.save_settings(conn, comm.Settings(path=path, head_id=HEAD))
    have = await comm.shift_ids(conn, path)
    for ident, weekday, start, end, worker, backup in SHIFTS:
        if ident not in have:
            await comm.add_shift(conn, path, comm.NewShift(weekday, None, start, end, worker, backup, "demo roster"),
                                 ident=ident)
    have = await comm.provider_ids(conn, path)
    for ident, name, phone, priority, hours in (
        ("p-fengxiang-canteen", data["canteen"], "028-8000-0001", 0, CANTEEN_HOURS),
        ("p-linjia-restaurant", "邻家小馆", "028-8000-0002", 1, RESTAURANT_HOURS),
    ):
        if ident not in have:
            await comm.add_provider(conn, path, comm.NewProvider(name, "meal", phone, priority, hours), ident=ident)
    # Workers get WeChat subscription messages (the local file provider under `make run`).
    for worker in WORKERS:
        prefs = await prefs_of(conn, worker)
        if not prefs.channels:
            await save_prefs(conn, Prefs(worker, channels=["wechat"], wechat_openid=f"openid-{worker}",
                                         subscribed_paths=prefs.subscribed_paths))


async def seed(app: ServiceApp) -> None:
    # The places the demo names, as governance's events announce them (they may come later).
    await org_units.learn_demo_tree(app.db, known_org_unit, app.clock.now())
    async with app.db.transaction() as session:
        await seed_connection(await session.connection())


# A week of Fengshu's help requests for the operators' dashboard (time to acknowledge against
# the SLA): (days ago, local hour, minute, category, urgency, minutes until the worker on duty took it,
# description).
RECENT_REQUESTS = [
    (4, 9, 10, "meal", pb.URGENCY_HIGH, 12, "独居老人午餐未送到 An elder's lunch did not arrive"),
    (3, 14, 30, "repair", pb.URGENCY_NORMAL, 41, "楼道灯不亮 The stairwell light is out"),
    (2, 20, 5, "medical", pb.URGENCY_CRITICAL, 6, "老人头晕需陪同就医 An elder feels dizzy, needs company to a clinic"),
    (1, 10, 0, "companionship", pb.URGENCY_LOW, 200, "希望有人陪聊 Would like someone to talk to"),
    (1, 16, 45, "errand", pb.URGENCY_NORMAL, 75, "帮忙取药 Collect a prescription"),
]
DEMO_REPORTER = "demo-resident"


async def seed_recent_requests(app: ServiceApp) -> int:
    """Last week's requests as they happened: routed to the worker on duty at that moment (the
    demo roster), taken by that worker after the given minutes. Written as history, without
    events (old requests are not news, nobody is notified again). Idempotent: fixed ids."""
    data = fengshu()
    path = data["path"]
    compound = data["compounds"][0]["path"]
    now = app.clock.now()
    filed = 0
    async with app.db.transaction() as session:
        conn = await session.connection()
        settings = await comm.settings_of(conn, path)
        for n, (days, hour, minute, category, urgency, ack_after, text) in enumerate(RECENT_REQUESTS, start=1):
            request_id = f"h-demo-{n:02d}"
            if await helpdesk.find(conn, request_id) is not None:
                continue
            offset = timedelta(minutes=settings.utc_offset_minutes)
            local = (now + offset).replace(hour=hour, minute=minute, second=0, microsecond=0)
            filed_at = local - timedelta(days=days) - offset
            taken_at = filed_at + timedelta(minutes=ack_after)
            duty = await comm.on_duty_at(conn, path, filed_at, settings.utc_offset_minutes)
            worker, backup = (duty.worker_id, duty.backup_id) if duty else (settings.head_id, "")
            await conn.execute(help_request.insert().values(
                id=request_id, community_path=path, compound_path=compound, reporter_id=DEMO_REPORTER,
                reporter_role=pb.REPORTER_ROLE_RESIDENT, category=category, urgency=urgency, description=text,
                status=pb.STATUS_ACKNOWLEDGED, assignee_id=worker, backup_id=backup, head_id=settings.head_id,
                escalation_level=0 if duty else 2, ack_deadline=None, created_at=filed_at, updated_at=taken_at))
            for from_status, to_status, actor, at, note in (
                (pb.STATUS_UNSPECIFIED, pb.STATUS_SUBMITTED, DEMO_REPORTER, filed_at, "demo data"),
                (pb.STATUS_SUBMITTED, pb.STATUS_ASSIGNED, "system", filed_at, "on duty"),
                (pb.STATUS_ASSIGNED, pb.STATUS_ACKNOWLEDGED, worker, taken_at, ""),
            ):
                await conn.execute(transition.insert().values(
                    help_request_id=request_id, from_status=from_status, to_status=to_status, actor_id=actor, at=at,
                    note=note, escalation_level=0 if duty else 2, assignee_id=worker))
            filed += 1
    return filed
