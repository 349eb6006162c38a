"""Ms Wan's Saturday, end to end, in one command (README, "Notification"):

    .venv/bin/python tools/help_request_demo.py

Starts its own nats-server and the notification service (SQLite in a temporary folder, the
demo roster for Fengshu) with a clock set to Saturday 7 November 2026, 11:00 in Chengdu, and
moves that clock instead of waiting: canteen staff file Ms Wan's request; it goes to
Saturday's duty worker with the open restaurant suggested (枫香小厨 is closed on Saturdays);
nobody acknowledges, so it escalates to the backup and then to the community head; the head
takes it, a volunteer delivers the meal, the request is resolved, followed up the next day
and thanked with a silk banner. Every step goes through the real gRPC API and event bus.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import grpc
from linli_identity.testing import TestIssuer
from linli_notification import volunteer_accounts, workers
from linli_notification.app import NotificationApp
from linli_notification.consumers import HELP_SUBJECTS
from linli_notification.demo import HEAD, WORKER_PHONES, fengshu, seed
from linli_notification.helpdesk import LEVEL_NAMES, status_name
from linli_notification.settings import NotificationSettings
from sqlalchemy import select

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_runtime.clock import ManualClock
from linli_runtime.demo import demo_account_id, load
from linli_runtime.events.tables import INBOX, OUTBOX
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until
from linli_runtime.times import local as to_local

SATURDAY_11AM_CHENGDU = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)


def say(text: str = "") -> None:
    print(text, flush=True)


def local(clock: ManualClock) -> str:
    return to_local(clock.now()).strftime("%a %d %b %H:%M")


# The demo roster names the Fengshu workers' accounts; the story calls them by name.
CALLED = {demo_account_id(phone): f"worker-{name}" for name, phone in WORKER_PHONES.items()}


def called(account: str) -> str:
    return CALLED.get(account, account)


async def run(workdir: Path) -> int:
    nats = NatsServer(workdir / "nats").start()
    clock = ManualClock(SATURDAY_11AM_CHENGDU)
    settings = NotificationSettings(port=0, database_url=f"sqlite+aiosqlite:///{workdir / 'notification.db'}",
                                    nats_url=nats.url, sweep_interval_seconds=0, log_level="WARNING",
                                    delivery_file=str(workdir / "deliveries.jsonl"))
    app = NotificationApp(settings, clock=clock)
    # Its own token issuer in memory (the identity service's token code): the story's people
    # carry tokens from it, as they would from the platform's issuer.
    issuer = TestIssuer()
    issuer.trust(app)
    app.on_start(seed)
    try:
        await app.start()
        await app.bus.wait_ready(15)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            await story(app, clock, channel, issuer)
    finally:
        await app.stop(grace=1)
        nats.stop()
    return 0


async def story(app: NotificationApp, clock: ManualClock, channel: grpc.aio.Channel, issuer: TestIssuer) -> None:
    data = fengshu()
    path = data["path"]
    parent = "communities/" + path.replace("/", "~")
    wan = load()["ms_wan"]

    def md(subject: str, role: str = "community_worker") -> tuple[tuple[str, str], ...]:
        return issuer.bearer(subject, role=role, scope=path)

    help_stub = pb_grpc.HelpRequestServiceStub(channel)
    inbox = pb_grpc.InboxServiceStub(channel)
    # The helper volunteer-007 is a person with an account (here named as the volunteer is);
    # volunteer-points publishes the binding, recorded here as notification's consumer would.
    # The roster's workers hold their grants in Fengshu, as identity announces them (its demo
    # gives them; here, recorded as notification's consumer of identity.grant.granted would).
    async with app.db.transaction() as session:
        conn = await session.connection()
        await volunteer_accounts.bind(conn, path, "volunteer-007", "volunteer-007")
        for account in CALLED:
            await workers.learn(conn, grant=f"accounts/{account}/grants/demo", account=account,
                                role="community_worker", scope=path, granted=True)

    async def show(name: str) -> pb.HelpRequest:
        got: pb.HelpRequest = (await help_stub.GetHelpRequest(
            pb.GetHelpRequestRequest(name=name), metadata=md(HEAD))).help_request
        who = called(got.assignee_id) or "nobody"
        say(f"   status {status_name(got.status)}, with {who} ({LEVEL_NAMES.get(got.escalation_level, '')})")
        return got

    async def settled() -> bool:
        """Every help event published so far has been turned into notices by our consumer."""
        async with app.db.session() as session:
            conn = await session.connection()
            published = set((await conn.execute(select(OUTBOX.c.event_id).where(
                OUTBOX.c.subject.in_(HELP_SUBJECTS)))).scalars())
            done = set((await conn.execute(select(INBOX.c.event_id).where(
                INBOX.c.consumer == "notification-help"))).scalars())
        return published <= done

    async def settle() -> None:  # let our own consumers turn the events into notices, then send them
        await wait_until(settled, timeout=30, what="the help events turned into notices")
        await app.sweeper.run_once()

    say(f"{local(clock)} — {wan['name']} is ill and cannot get out of bed; she asks in the "
        f"{wan['reported_via']}. Canteen staff file a help request:")
    filed = (await help_stub.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=parent, request_id="demo-ms-wan", help_request=pb.HelpRequest(
            reporter_id="canteen-staff-liu", reporter_role=pb.REPORTER_ROLE_CANTEEN_STAFF, on_behalf_of=wan["name"],
            contact="138-0000-0000", category=wan["category"], urgency=pb.URGENCY_HIGH,
            compound_path=wan["compound"], description="生病卧床，无法出门买饭")),
        metadata=md("canteen-staff-liu", role="resident"))).help_request
    say(f"   {filed.name}")
    say(f"   routed to {called(filed.assignee_id)} — Saturday's duty worker; must acknowledge within 30 minutes")
    say(f"   open meal providers now: {', '.join(s.display_name for s in filed.suggestions)} "
        f"({data['canteen']} is closed on Saturdays)")
    await settle()

    for minutes in (31, 31):
        clock.advance(minutes=minutes)
        result = await app.sweeper.run_once()
        say(f"{local(clock)} — nobody acknowledged; the sweeper escalates ({result.escalated} escalation):")
        await show(filed.name)
        await settle()

    clock.advance(minutes=4)
    say(f"{local(clock)} — the community head acknowledges and arranges a meal from the restaurant:")
    await help_stub.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=filed.name), metadata=md(HEAD))
    await help_stub.StartHelpRequest(pb.StartHelpRequestRequest(
        name=filed.name, note="从邻家小馆订餐，志愿者送到家"), metadata=md(HEAD))
    clock.advance(minutes=45)
    resolved = (await help_stub.ResolveHelpRequest(pb.ResolveHelpRequestRequest(
        name=filed.name, resolution="邻家小馆的饭菜已由志愿者送到家", helper_ids=["volunteer-007"]),
        metadata=md(HEAD))).help_request
    say(f"{local(clock)} — resolved; follow-ups scheduled after "
        f"{', '.join(str(f.day_offset) for f in resolved.follow_ups)} days; volunteer-007 credited by event")
    await settle()

    clock.advance(days=1)
    await app.sweeper.run_once()
    got = (await help_stub.GetHelpRequest(pb.GetHelpRequestRequest(name=filed.name), metadata=md(HEAD))).help_request
    first = got.follow_ups[0]
    say(f"{local(clock)} — day-1 follow-up given to {called(first.assignee_id)} (Sunday's duty worker), who visits:")
    await help_stub.RecordFollowUp(pb.RecordFollowUpRequest(name=first.name, note="精神好多了，能下床了"),
                                   metadata=md(first.assignee_id))
    thanks = pb.Thanks(kind="banner", text=wan["thanks"])
    setattr(thanks, "from", wan["name"])
    await help_stub.RecordThanks(pb.RecordThanksRequest(name=filed.name, thanks=thanks), metadata=md(HEAD))
    say(f"   {wan['name']} brings a silk banner: “{wan['thanks']}”")
    await settle()

    final = await show(filed.name)
    say("\nHistory (who, when):")
    for change in final.history:
        when = change.change_time.ToDatetime(tzinfo=UTC)
        say(f"   {to_local(when):%a %H:%M}  {status_name(change.from_status):>12} → "
            f"{status_name(change.to_status):<12} by {called(change.actor_id):<18} {change.note}")
    say("\nInboxes:")
    zhao, sun = demo_account_id(WORKER_PHONES["zhao"]), demo_account_id(WORKER_PHONES["sun"])
    for person in (zhao, sun, HEAD, "volunteer-007", "canteen-staff-liu"):
        notices = (await inbox.ListNotices(pb.ListNoticesRequest(parent=f"recipients/{person}"),
                                           metadata=md(person))).notices
        for n in reversed(notices):
            channels = ", ".join(f"{d.channel}:{d.state}" for d in n.deliveries) or "inbox only"
            say(f"   {called(person):<18} {n.title}  [{channels}]")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="linli-help-demo-") as workdir:
        return asyncio.run(run(Path(workdir)))


if __name__ == "__main__":
    sys.exit(main())
