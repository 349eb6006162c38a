"""`linli platform backup DIR` / `linli platform restore DIR`: the embedded default (`make run`:
SQLite files and one nats-server under var/) copied while it runs, and brought back into a fresh
var/ with no event lost and none applied twice.

What a backup holds: every stream's messages and configuration (JetStream, `jetstream/`), then
every service's database (the SQLite online backup API, `<database>.db`), and `manifest.json`.

Why it is consistent enough — the order and the argument:

1. **JetStream first.** `jetstream_from` is read from the clock, then each stream's last sequence;
   the messages up to it are exported. An event whose outbox row was marked sent before
   `jetstream_from` had its PubAck before then: it is in the export.
2. **Then all databases at one instant.** The backup takes every database's write lock at once
   (`BEGIN IMMEDIATE` on a connection of its own, all or none, retried: no deadlock with a
   service that holds one of them), copies each with the online backup API while nobody can
   commit, and lets go. Services' writes wait those few moments (their busy timeout is 30 s);
   reads go on (WAL). One instant for every database means a cut no saga can straddle
   inconsistently: each database holds every commit before the cut and none after, so a
   redemption COMMITTED in partner-redemption has its posted hold in volunteer-points, and a
   PENDING one is settled by the recovery loop from whatever the ledger says.
3. **Restore re-sends what the export may lack.** In the restored databases every outbox row
   marked sent at or after `jetstream_from` is marked unsent again: those events were published
   after the export began, so the restored streams may not hold them. The relays publish them
   again with the same event id as `Nats-Msg-Id`; one the export did hold is dropped by
   JetStream's duplicate window, or, later, by the inboxes. Rows sent before `jetstream_from`
   are in the export (or pruned after two days — long since in the streams).
4. **Consumers start over, the inboxes decide.** Consumer positions are not restored: each
   service recreates its durable consumers, which deliver every message of their streams again.
   An event whose effect is in the restored database is in the same database's inbox (they
   commit together), so it is acknowledged without effect; one whose effect is not is applied.
   So every event committed before the cut exists once in the streams (its outbox row or the
   export), and has its effect once in every consumer — none lost, none applied twice. The
   imported messages keep their stream sequences, which the dead letters name, so a poison
   message delivered again is recorded once.

The platform may be running (its nats-server is found through var/nats.url) or stopped (a
nats-server is started on var/nats for the export, and on the new var/nats for the restore).
PostgreSQL platforms are backed up with PostgreSQL's tools (README "Backups and restore").
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, update

from linli_runtime.events.tables import OUTBOX
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.processes import NatsServer, free_port
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.translation import _

FORMAT = "linli-embedded-backup/1"
MANIFEST = "manifest.json"
JETSTREAM = "jetstream"
# Outbox rows sent this long before the export began are re-sent too: clocks of one machine
# agree, and re-sending more than needed is harmless (deduplicated).
CLOCK_MARGIN = timedelta(seconds=2)
LOCK_ATTEMPT_S = 0.5  # how long to wait for one database's write lock before letting all go
LOCK_GIVE_UP_S = 60.0


class BackupError(RuntimeError):
    """The backup or restore cannot be done as asked; the message says why and what to do."""


@dataclass
class Manifest:
    format: str
    created_at: str
    jetstream_from: str  # ISO 8601, UTC: outbox rows sent from then on are re-sent on restore
    cut_at: str  # when every database was copied, at one instant
    databases: dict[str, str] = field(default_factory=dict)  # service → file in the backup
    streams: dict[str, int] = field(default_factory=dict)  # stream → messages exported

    def write(self, directory: Path) -> None:
        (directory / MANIFEST).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.exists():
            raise BackupError(_("{folder} holds no Linli backup ({manifest} missing)").format(folder=directory,
                                                                                          manifest=MANIFEST))
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise BackupError(_("{folder}: backup format {found}, this version reads {expected}").format(
                folder=directory, found=repr(data.get("format")), expected=repr(FORMAT)))
        return cls(**data)


def progress_display() -> Progress:
    """Bars on stderr (stdout stays for --json), drawn only on a terminal."""
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


def service_databases(var_dir: Path, services: list[ServiceDescriptor] | None = None) -> dict[str, Path]:
    """Each service's SQLite file under `var_dir` (`make run`'s layout), by service name."""
    descriptors = installed_services() if services is None else services
    return {d.name: var_dir / f"{d.db_name}.db" for d in descriptors if d.owns_database}


# -- NATS: the running platform's, or one started for the job ------------------------------------


def _listening(url: str) -> bool:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def platform_nats(var_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(URL, nats.connect options) of var_dir's nats-server: the running platform's (its URL in
    var/nats.url), else one started on var/nats for as long as the job needs it."""
    security = NatsSecurity(var_dir).prepare()
    url_file = var_dir / "nats.url"
    if url_file.exists() and _listening(url := url_file.read_text().strip()):
        yield url, security.admin_options()
        return
    server = NatsServer(var_dir / "nats", port=free_port(), config=security.server_config(cluster=False),
                        log_file=var_dir / "logs" / "nats-backup.log")
    (var_dir / "logs").mkdir(parents=True, exist_ok=True)
    server.start()
    try:
        yield server.url, security.admin_options()
    finally:
        server.stop()


# -- JetStream -------------------------------------------------------------------------------------


async def export_jetstream(url: str, connect: dict[str, Any], target: Path, progress: Progress) -> tuple[
        datetime, dict[str, int]]:
    """Every stream's configuration and messages up to its last sequence at the start; returns
    when the export began (`jetstream_from`) and the messages per stream. (Run by `backup` in a
    loop of its own: the files it writes block nobody.)"""
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3, **connect)
    try:
        js = nc.jetstream(timeout=10)
        began = datetime.now(UTC)
        infos = await js.streams_info()
        configs = {info.config.name: info.config.as_dict() for info in infos}
        (target / "streams.json").write_text(json.dumps(configs, indent=2, ensure_ascii=False) + "\n")
        counts: dict[str, int] = {}
        for info in infos:
            name, last = str(info.config.name), int(info.state.last_seq)
            task = progress.add_task(f"JetStream {name}", total=int(info.state.messages))
            exported = 0
            with (target / f"{name}.jsonl").open("w") as out:
                seq = int(info.state.first_seq) or 1
                while last and seq <= last:
                    try:
                        msg = await js.get_msg(name, seq, next=True)
                    except NotFoundError:
                        break  # nothing at or after seq (the rest expired meanwhile)
                    if msg.seq is None or msg.seq > last:
                        break
                    out.write(json.dumps({"seq": msg.seq, "subject": msg.subject, "headers": msg.headers or {},
                                          "data": base64.b64encode(msg.data or b"").decode()}) + "\n")
                    exported += 1
                    progress.advance(task)
                    seq = msg.seq + 1
            progress.update(task, total=exported, completed=exported)
            counts[name] = exported
        return began, counts
    finally:
        await nc.close()


async def import_jetstream(url: str, connect: dict[str, Any], source: Path, progress: Progress) -> dict[str, int]:
    """The exported streams created again (one replica: one local node) and their messages
    published again in order, each with the headers it had (Nats-Msg-Id among them)."""
    configs: dict[str, dict[str, Any]] = json.loads((source / "streams.json").read_text())
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3, **connect)
    counts: dict[str, int] = {}
    try:
        js = nc.jetstream(timeout=10)
        for name, raw in configs.items():
            config = StreamConfig.from_response(dict(raw))
            config.num_replicas = 1
            lines = (source / f"{name}.jsonl").read_text().splitlines()
            # The messages keep their sequence numbers (a stream of limits only ever loses its
            # oldest): dead letters name the sequence, so a redelivered poison message is
            # recognised as the one already recorded.
            config.first_seq = int(json.loads(lines[0])["seq"]) if lines else None
            await js.add_stream(config)
            task = progress.add_task(f"JetStream {name}", total=len(lines))
            pending = []
            for line in lines:
                entry = json.loads(line)
                pending.append(await js.publish_async(entry["subject"], base64.b64decode(entry["data"]),
                                                      headers=entry["headers"] or None))
                if len(pending) >= 256:
                    await asyncio.gather(*pending)
                    progress.advance(task, len(pending))
                    pending = []
            await asyncio.gather(*pending)
            progress.advance(task, len(pending))
            counts[name] = len(lines)
        return counts
    finally:
        await nc.close()


# -- the databases, at one instant ----------------------------------------------------------------


@contextmanager
def writes_paused(databases: dict[str, Path]) -> Iterator[None]:
    """Every database's write lock held at once (none committing meanwhile); all or none, taken
    again after a pause when one is busy, so a service holding one while it waits for another
    is never deadlocked with."""
    deadline = time.monotonic() + LOCK_GIVE_UP_S
    while True:
        held: list[sqlite3.Connection] = []
        try:
            for path in databases.values():
                conn = sqlite3.connect(path, timeout=LOCK_ATTEMPT_S, isolation_level=None)
                held.append(conn)
                conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            for conn in held:
                conn.close()  # rolls back what was begun
            if time.monotonic() > deadline:
                raise BackupError(_("could not pause the databases' writers for {seconds} s: {reason}").format(
                    seconds=f"{LOCK_GIVE_UP_S:.0f}", reason=exc)) from exc
            time.sleep(0.05)
            continue
        try:
            yield
        finally:
            for conn in held:
                conn.execute("ROLLBACK")
                conn.close()
        return


def copy_databases(databases: dict[str, Path], target: Path, progress: Progress) -> dict[str, str]:
    """Each database copied by the online backup API while `writes_paused` holds every writer."""
    tasks = {name: progress.add_task(_("database {service}").format(service=name), total=None) for name in databases}
    copied: dict[str, str] = {}
    with writes_paused(databases):
        for name, path in databases.items():
            destination = target / path.name
            source = sqlite3.connect(path, isolation_level=None)
            copy = sqlite3.connect(destination)
            try:
                def step(status: int, remaining: int, total: int, task: Any = tasks[name]) -> None:
                    progress.update(task, total=total, completed=total - remaining)

                source.backup(copy, pages=256, progress=step)
            finally:
                copy.close()
                source.close()
            copied[name] = destination.name
    for name, file in copied.items():
        with sqlite3.connect(target / file) as check:
            if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(_("the copy of {service}'s database fails its integrity check").format(service=name))
    return copied


# -- the two commands ------------------------------------------------------------------------------


def backup(var_dir: Path, target: Path, *, services: list[ServiceDescriptor] | None = None,
           progress: Progress | None = None) -> Manifest:
    var_dir, target = var_dir.resolve(), target.resolve()
    databases = service_databases(var_dir, services)
    missing = [str(p) for p in databases.values() if not p.exists()]
    if missing:
        raise BackupError(_("no database at {paths}: is {folder} the data folder of `make run`? (a platform on "
                            "PostgreSQL is backed up with pg_dump, README \"Backups and restore\")").format(
                              paths=", ".join(missing), folder=var_dir))
    if target.exists() and any(target.iterdir()):
        raise BackupError(_("{folder} is not empty: back up into a new folder").format(folder=target))
    target.mkdir(parents=True, exist_ok=True)
    display = progress or progress_display()
    with display:
        (target / JETSTREAM).mkdir()
        with platform_nats(var_dir) as (url, connect):
            began, counts = asyncio.run(export_jetstream(url, connect, target / JETSTREAM, display))
        copied = copy_databases(databases, target, display)
    manifest = Manifest(format=FORMAT, created_at=datetime.now(UTC).isoformat(), jetstream_from=began.isoformat(),
                        cut_at=datetime.now(UTC).isoformat(), databases=copied, streams=counts)
    manifest.write(target)
    return manifest


def resend_after(database: Path, since: datetime) -> int:
    """Mark every outbox row sent at or after `since` unsent again; returns how many."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:
            result = conn.execute(update(OUTBOX).where(OUTBOX.c.sent_at >= since)
                                  .values(sent_at=None, claimed_until=None))
            return int(result.rowcount)
    finally:
        engine.dispose()


def restore(source: Path, var_dir: Path, *, progress: Progress | None = None) -> dict[str, int]:
    """Into a fresh `var_dir`: the databases, their outboxes set to re-send what the export may
    lack, and the streams. Returns the outbox rows to re-send per service."""
    source, var_dir = source.resolve(), var_dir.resolve()
    manifest = Manifest.read(source)
    store = var_dir / "nats" / "jetstream"
    taken = [p.name for p in var_dir.glob("*.db")] + ([str(store)] if store.exists() and any(store.iterdir()) else [])
    if taken:
        raise BackupError(_("{folder} is not fresh ({found}): restore into an empty data folder, then start the "
                            "platform on it").format(folder=var_dir, found=", ".join(taken)))
    var_dir.mkdir(parents=True, exist_ok=True)
    since = datetime.fromisoformat(manifest.jetstream_from) - CLOCK_MARGIN
    resent: dict[str, int] = {}
    display = progress or progress_display()
    with display:
        task = display.add_task(_("databases"), total=len(manifest.databases))
        for name, file in manifest.databases.items():
            shutil.copy2(source / file, var_dir / file)
            resent[name] = resend_after(var_dir / file, since)
            display.advance(task)
        with platform_nats(var_dir) as (url, connect):
            asyncio.run(import_jetstream(url, connect, source / JETSTREAM, display))
    return resent
