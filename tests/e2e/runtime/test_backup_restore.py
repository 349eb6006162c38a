"""`linli platform backup` under load and `linli platform restore` into a fresh var/ (issue 15,
item 3): the embedded platform (every service, SQLite, one nats-server over TLS) takes POS
redemptions and help requests while the backup runs; it is restored into a new data folder and
started. Then every redemption the backup holds is there once and settled (a PENDING one by the
recovery loop), with one posted hold in the ledger for each committed one and the balances
moved by exactly those; every event the backup's services committed was consumed exactly once
(each consumer's inbox is its producer's outbox, one receipt notice per redemption, one notice
per help request step, one ledger credit per resolved request); nothing dead-lettered, nothing
left unsent, no ERROR logged. The argument is in linli_runtime/backup.py's docstring."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from linli_notification.tables import help_request, notice
from linli_points.ledger.model import HoldState
from linli_points.ledger.tables import holds, transfers
from linli_points.tables import Volunteer
from linli_redemption.tables import REDEMPTIONS

from linli.notification.v1 import notification_pb2 as npb
from linli_runtime.backup import Manifest
from linli_runtime.events.tables import DEAD_LETTERS, INBOX, OUTBOX
from linli_runtime.platform import LocalPlatform
from linli_runtime.processes import free_port
from linli_runtime.registry import installed_services
from linli_runtime.testing.platform import DEMO_ADMIN_PHONE, TEST_ISSUER_ENV, IssuerClient
from linli_runtime.testing.waiting import consumer_settled, wait_until
from tests.e2e.deploy.faultkit import Producer, accepted_more
from tests.e2e.deploy.platform_load import (
    FENGSHU_PARENT,
    REWARD_POINTS,
    Balances,
    HelpDesk,
    PosTerminal,
    balances,
    top_up,
)
from tests.e2e.deploy.test_platform_faults import HEAD_PHONE, HELP_SUBJECTS, WORKER_PHONE, errors_logged

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # two platform starts on a shared machine

SERVICES = [d for d in installed_services() if d.owns_database]
LINLI = Path(sys.executable).parent / "linli"
POS_VOLUNTEERS = ["v-001", "v-002", "v-003", "v-004"]
HELPERS = ["v-050", "v-051"]
COMMITTED = ("redemption.redemption.committed",)
CREDITED = ("notification.help_request.credited",)
# (producer, its subjects, consumer's service, consumer): what must arrive once.
FLOWS = [("partner-redemption", COMMITTED, "notification", "notification-redemption"),
         ("notification", HELP_SUBJECTS, "notification", "notification-help"),
         ("notification", CREDITED, "volunteer-points", "points-help-request-credits")]


def platform(var_dir: Path, *, demo_data: bool) -> LocalPlatform:
    # TEST_ISSUER_ENV: the restored issuer keeps the original's SMS rate-limit rows, and the same
    # people sign in again at once.
    return LocalPlatform(var_dir, nats_port=free_port(), demo_data=demo_data, services=SERVICES, default_ports=False,
                         extra_env=TEST_ISSUER_ENV)


def issued_tokens(running: LocalPlatform) -> dict[str, str]:
    """Tokens from the running platform's own issuer (identity, whose accounts and keys a backup
    carries): the demo platform admin, Fengshu's worker Li and its head He, each signed in by
    phone with the development gateway's code."""
    assert running.issuer is not None
    [identity] = [s for s in running.services if s.descriptor.issuer]
    issuer = IssuerClient(running.issuer, identity.address, running.tls)
    try:
        admin, worker, head = (issuer.token_for(phone) for phone in (DEMO_ADMIN_PHONE, WORKER_PHONE, HEAD_PHONE))
    finally:
        issuer.close()
    return {"admin": admin, "worker": worker, "head": head}


async def load_while_backing_up(running: LocalPlatform,
                                target: Path) -> tuple[Balances, subprocess.CompletedProcess[str]]:
    """Redemptions and help requests before, during and after `linli platform backup`."""
    tokens = await asyncio.to_thread(issued_tokens, running)
    addresses = running.addresses()
    tls = running.tls
    async with (tls.channel(addresses["VOLUNTEER_POINTS_SERVICE_ADDR"], token=tokens["admin"]) as points,
                tls.channel(addresses["PARTNER_REDEMPTION_SERVICE_ADDR"], token=tokens["worker"]) as redemption,
                tls.channel(addresses["NOTIFICATION_SERVICE_ADDR"], token=tokens["head"]) as notification):
        await top_up(points, POS_VOLUNTEERS, 5_000)
        before = await balances(points, POS_VOLUNTEERS + HELPERS)
        tills = Producer(PosTerminal(redemption, POS_VOLUNTEERS))
        desks = Producer(HelpDesk(notification, HELPERS))
        tills.start(len(POS_VOLUNTEERS))
        desks.start(2)
        try:
            await accepted_more([tills, desks], 5, "load before the backup")
            # The real command, as an operator runs it beside the running platform.
            done = await asyncio.to_thread(subprocess.run, [str(LINLI), "platform", "backup", str(target),
                                                            "--var-dir", str(running.var_dir), "--json"],
                                           capture_output=True, text=True, timeout=300)
            await accepted_more([tills, desks], 3, "load after the backup")  # not in the backup
        finally:
            await tills.stop()
            await desks.stop()
        assert tills.unresolved == [] and desks.unresolved == []
    return before, done


class Databases:
    """The services' SQLite files of a data folder (or a backup), read with plain SQLAlchemy."""

    def __init__(self, folder: Path) -> None:
        self.engines = {d.name: sa.create_engine(f"sqlite:///{folder / (d.db_name + '.db')}") for d in SERVICES}

    def rows(self, service: str, query: Any) -> list[Any]:
        with self.engines[service].connect() as conn:
            return list(conn.execute(query))

    def published(self, service: str, subjects: tuple[str, ...]) -> set[str]:
        query = sa.select(OUTBOX.c.event_id).where(OUTBOX.c.subject.in_(subjects))
        return {r.event_id for r in self.rows(service, query)}

    def consumed(self, service: str, consumer: str) -> set[str]:
        return {r.event_id for r in self.rows(service, sa.select(INBOX.c.event_id).where(INBOX.c.consumer == consumer))}

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


async def consumers_settled(running: LocalPlatform) -> bool:
    nc = await nats.connect(running.nats.url, connect_timeout=2, **running.security.admin_options())
    try:
        js = nc.jetstream(timeout=5)
        for stream in ("GOVERNANCE", "POINTS", "REDEMPTION", "NOTIFICATION"):
            for consumer in await js.consumers_info(stream):
                if not await consumer_settled(js, stream, consumer.name):
                    return False
        return True
    finally:
        await nc.close()


async def check_restored(running: LocalPlatform, backed_up: Databases, before: Balances) -> None:
    dbs = Databases(running.var_dir)
    try:
        in_backup = {r.id: r.state for r in backed_up.rows("partner-redemption", sa.select(REDEMPTIONS))}
        assert in_backup, "the backup caught redemptions"

        def settled() -> bool:
            if any(dbs.rows(s, sa.select(OUTBOX.c.seq).where(OUTBOX.c.sent_at.is_(None))) for s in dbs.engines):
                return False
            if any(r.state == "pending" for r in dbs.rows("partner-redemption", sa.select(REDEMPTIONS))):
                return False
            return all(dbs.published(producer, subjects) <= dbs.consumed(service, consumer)
                       for producer, subjects, service, consumer in FLOWS)

        await wait_until(settled, 120, "the restored platform to resend, recover and consume everything", interval=0.3)
        await wait_until(lambda: consumers_settled(running), 60, "every consumer to settle", interval=0.3)

        # -- redemptions: exactly the backup's, each once, settled ---------------------------------
        records = {r.id: r for r in dbs.rows("partner-redemption", sa.select(REDEMPTIONS))}
        assert set(records) == set(in_backup), "no redemption lost, none from after the backup"
        for rid, state in in_backup.items():
            if state == "committed":
                assert records[rid].state == "committed", rid
        committed = [r for r in records.values() if r.state == "committed"]
        assert {r.state for r in records.values()} <= {"committed", "voided"}

        # -- the ledger: one posted hold per committed redemption, balances moved by exactly those --
        held = {h.hold_id: h.state for h in dbs.rows("volunteer-points", sa.select(holds.c.hold_id, holds.c.state))}
        for r in committed:
            assert held[r.hold_id] == HoldState.POSTED, r.id
        assert Counter(held.values())[HoldState.PENDING] == 0, "no hold left open"
        posts = dbs.rows("volunteer-points", sa.select(transfers.c.transfer_id).where(
            transfers.c.transfer_id.in_([r.transfer_id for r in committed])))
        assert len(posts) == len(committed)
        filed = {h.id: h for h in dbs.rows("notification", sa.select(help_request))}
        credits = dbs.rows("volunteer-points", sa.select(transfers.c.source, transfers.c.credit_account,
                                                          transfers.c.amount).where(transfers.c.transfer_id.like("help:%")))
        sources = Counter(c.source for c in credits)
        assert all(n == 1 for n in sources.values()), "one credit per resolved help request"
        tokens = await asyncio.to_thread(issued_tokens, running)
        async with running.tls.channel(running.addresses()["VOLUNTEER_POINTS_SERVICE_ADDR"],
                                       token=tokens["admin"]) as points:
            after = await balances(points, POS_VOLUNTEERS + HELPERS)
        per_volunteer = Counter(r.volunteer_id for r in committed)
        for v in POS_VOLUNTEERS:
            assert after[v].held == 0
            assert after[v].balance == before[v].balance - REWARD_POINTS * per_volunteer[v], v
        earned: Counter[str] = Counter()
        for credit in credits:
            earned[credit.credit_account.removeprefix("volunteers/")] += credit.amount
        for v in HELPERS:
            assert after[v].balance == before[v].balance + earned[v], v

        # -- events: everything the backup's services committed, consumed exactly once ---------------
        for producer, subjects, service, consumer in FLOWS:
            assert dbs.published(producer, subjects) == dbs.consumed(service, consumer), consumer
        for service in dbs.engines:  # every event of the backup is still there (none lost)
            assert {r.event_id for r in backed_up.rows(service, sa.select(OUTBOX.c.event_id))} \
                <= {r.event_id for r in dbs.rows(service, sa.select(OUTBOX.c.event_id))}
        assert len(dbs.published("partner-redemption", COMMITTED)) == len(committed)
        assert len(dbs.published("notification", CREDITED)) == len(sources)
        notices = Counter((n.kind, n.subject_resource) for n in dbs.rows(
            "notification", sa.select(notice.c.kind, notice.c.subject_resource)))
        assert all(n == 1 for n in notices.values()), [k for k, n in notices.items() if n > 1]
        receipts = {resource for (kind, resource) in notices if kind == "redemption.committed"}
        # A receipt goes to the account a volunteer is bound to (identity-authz): unbound, none.
        volunteer = Volunteer.__table__.c
        bound = {r.volunteer_id for r in dbs.rows("volunteer-points", sa.select(volunteer.volunteer_id).where(
            volunteer.account_id != ""))}
        assert receipts == {f"merchants/{r.merchant_id}/redemptions/{r.id}" for r in committed
                            if r.volunteer_id in bound}
        # Every help request the load filed and that was routed has its one assignment notice (the
        # demo's requests are history, seeded without notices).
        routed = {f"{FENGSHU_PARENT}/helpRequests/{h.id}" for h in filed.values()
                  if not h.id.startswith("h-demo") and h.status != npb.STATUS_SUBMITTED}
        assert routed and routed <= {resource for (kind, resource) in notices if kind == "help_request.assigned"}
        for service in dbs.engines:
            assert dbs.rows(service, sa.select(DEAD_LETTERS.c.consumer, DEAD_LETTERS.c.error)) == [], service
    finally:
        dbs.close()


def test_a_backup_under_load_restores_every_committed_redemption_balance_and_event_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_RECOVERY_GRACE", "1")  # settle the backup's PENDING redemptions promptly
    monkeypatch.setenv("LINLI_RECOVERY_INTERVAL", "0.5")
    # Every resolved help request is credited (as in the fault test): a worker's daily and monthly
    # help-credit limits would otherwise hold most credits for a second approval.
    monkeypatch.setenv("LINLI_HELP_CREDIT_DAILY_LIMIT", "1000000")
    monkeypatch.setenv("LINLI_HELP_CREDIT_MONTHLY_LIMIT", "1000000")
    # One demo till serves the whole load: past the POS abuse limits a real till never reaches.
    for limit in ("RESOLVES_PER_TERMINAL_PER_MINUTE", "REDEEMS_PER_TERMINAL_PER_MINUTE", "REDEEMS_PER_MEMBER_PER_HOUR"):
        monkeypatch.setenv(f"LINLI_POS_{limit}", "1000000")
    monkeypatch.setenv("LINLI_DELIVERY_FILE", str(tmp_path / "deliveries.jsonl"))
    backup_dir = tmp_path / "backup"
    original = platform(tmp_path / "var", demo_data=True)
    try:
        original.start()
        before, done = asyncio.run(load_while_backing_up(original, backup_dir))
    finally:
        original.stop()
    assert done.returncode == 0, done.stderr
    manifest = Manifest(**json.loads(done.stdout))
    assert set(manifest.databases) == {d.name for d in SERVICES}
    assert manifest.streams["REDEMPTION"] > 0 and manifest.jetstream_from <= manifest.cut_at

    restored_var = tmp_path / "restored"
    done = subprocess.run([str(LINLI), "platform", "restore", str(backup_dir), "--var-dir", str(restored_var),
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([str(LINLI), "platform", "restore", str(backup_dir), "--var-dir", str(restored_var)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "not fresh" in " ".join(again.stderr.split()), \
        "a restore never overwrites a data folder"

    restored = platform(restored_var, demo_data=False)
    backed_up = Databases(backup_dir)
    try:
        restored.start()
        asyncio.run(check_restored(restored, backed_up, before))
    finally:
        backed_up.close()
        restored.stop()
    errors = {s.descriptor.name: errors_logged(s.log_path) for s in restored.services}
    assert {name: lines for name, lines in errors.items() if lines} == {}
