"""Care runs by itself (issue 14, item 6), SQLite and PostgreSQL: on the service's clock and by
its own schedule, the families short of visits are reminded from the 15th and the month is
closed soon after it ends — each exactly once however many passes or replicas run — and
notification, on its own database and the same NATS, delivers the reminder to the family's
volunteers and the lapse to the worker on duty. CloseMonth afterwards changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from linli_notification.app import NotificationApp
from linli_notification.tables import notice
from linli_points.app import PointsApp
from linli_points.care import care_pass

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, Metadata, Stubs, account_of, published, ts

# Asia/Shanghai is UTC+8: these are local times.
NOV_10 = datetime(2026, 11, 10, 2, tzinfo=UTC)
NOV_15_0030 = datetime(2026, 11, 14, 16, 30, tzinfo=UTC)
DEC_1_0010 = datetime(2026, 11, 30, 16, 10, tzinfo=UTC)


async def pairs(s: Stubs, md: Metadata) -> None:
    """f-1 (v-wan, v-li) with e-1, f-2 (v-zhao) with e-2, both from 1 November; each volunteer
    bound to their account."""
    for fid in ("f-1", "f-2"):
        await s.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
            community_path=FENGSHU, family_id=fid, display_name=f"{fid}家")), metadata=md)
    for vid, fid in (("v-wan", "f-1"), ("v-li", "f-1"), ("v-zhao", "f-2")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=vid, family_id=fid,
            account_id=account_of(vid))), metadata=md)
    for pid, fid, eid, name in (("p-1", "f-1", "e-1", "张爷爷"), ("p-2", "f-2", "e-2", "刘奶奶")):
        await s.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
            community_path=FENGSHU, elder_id=eid, display_name=name)), metadata=md)
        await s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
            community_path=FENGSHU, pairing_id=pid, family_id=fid, elder_id=eid, start_date="2026-11-01")),
            metadata=md)


async def notices(service: NotificationApp, kind: str) -> list[tuple[str, str]]:
    async with service.db.engine.connect() as conn:
        return [(r.recipient_id, r.title) for r in await conn.execute(
            sa.select(notice.c.recipient_id, notice.c.title).where(notice.c.kind == kind)
            .order_by(notice.c.recipient_id))]


async def test_reminders_mid_month_and_lapses_at_month_end_run_by_themselves_once(
    app: PointsApp, notification: NotificationApp, stubs: Stubs, as_worker: Metadata, clock: ManualClock
) -> None:
    s, md = stubs, as_worker
    await pairs(s, md)
    clock.set(NOV_10)
    for n, (vid, pid, kind) in enumerate((("v-wan", "p-1", events_pb.VISIT_TYPE_COMPANIONSHIP),
                                          ("v-li", "p-1", events_pb.VISIT_TYPE_HOME_CLEANING),
                                          ("v-zhao", "p-2", events_pb.VISIT_TYPE_WARM_SUPPORT))):
        await s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id=pid, visit_id=f"visit-{n}", visit_time=ts(datetime(2026, 11, 3 + n, 2, tzinfo=UTC)),
            volunteer_id=vid, confirmation=par.VISIT_CONFIRMATION_ELDER, visit_type=kind)), metadata=md)
        await s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id=f"visit-{n}"),
                                      metadata=md)  # only confirmed visits count
    logged = await published(app, "points.visit.logged", events_pb.VisitLogged)
    assert [e.visit_type for e in logged] == [events_pb.VISIT_TYPE_COMPANIONSHIP, events_pb.VISIT_TYPE_HOME_CLEANING,
                                              events_pb.VISIT_TYPE_WARM_SUPPORT]

    # Before the 15th: nothing to remind (October closes with no pairing active in it; the
    # schedule's own first pass may have closed it already).
    early = await app.care.run_once()
    assert early.reminded == {} and sum(early.lapsed.values()) == 0

    # The 15th, half past midnight: the service's own schedule reminds the short family (woken
    # rather than waiting out its interval) — once, whatever runs after it.
    assert app.care.running, "the service runs the care schedule itself"
    clock.set(NOV_15_0030)
    app.care.wake()

    async def reminders() -> list[events_pb.PairingReminded]:
        return await published(app, "points.pairing.reminded", events_pb.PairingReminded)

    await wait_until(reminders, what="the care schedule to remind the short family")
    passes = [await app.care.run_once(),
              *await asyncio.gather(*(care_pass(app.pairings, clock, 15) for _ in range(3))),  # replicas
              await app.care.run_once()]
    assert [p.reminded for p in passes if p.reminded] == []
    reminded = await reminders()
    assert [(e.pairing, e.family_id, e.elder_name, e.month, e.visits_done, e.visits_required,
             list(e.volunteer_ids), e.month_ends) for e in reminded] == [
        (f"{FENGSHU}/pairings/p-2", "f-2", "刘奶奶", "2026-11", 1, 2, ["v-zhao"], "2026-11-30")]

    # Ten minutes into December (Shanghai): November is closed by the schedule, once.
    clock.set(DEC_1_0010)
    passes = [await app.care.run_once(),
              *await asyncio.gather(*(care_pass(app.pairings, clock, 15) for _ in range(3))),
              await app.care.run_once()]
    assert [p.lapsed for p in passes if p.lapsed] == [{FENGSHU: 1}]
    assert all(not p.reminded for p in passes), "December's reminders wait for its 15th"
    closed = await s.pairings.CloseMonth(par.CloseMonthRequest(community_path=FENGSHU, month="2026-11"), metadata=md)
    assert (closed.newly_closed, closed.pairings_evaluated, closed.pairings_lapsed) == (False, 2, 1)
    lapsed = await published(app, "points.pairing.lapsed", events_pb.PairingLapsed)
    assert [(e.pairing, e.month, e.visits_done) for e in lapsed] == [(f"{FENGSHU}/pairings/p-2", "2026-11", 1)]

    # notification delivers both: the reminder to the family, the lapse to whoever is on duty.
    async def delivered() -> bool:
        return bool(await notices(notification, "pairing.reminded")) and bool(
            await notices(notification, "pairing.lapsed"))

    await wait_until(delivered, what="notification to deliver the reminder and the lapse")
    # To v-zhao's account (the volunteer id is Fengshu's alone: inboxes are per account).
    assert await notices(notification, "pairing.reminded") == [(account_of("v-zhao"), "探访提醒：刘奶奶本月还需探访")]
    assert len(await notices(notification, "pairing.lapsed")) == 1
