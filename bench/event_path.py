"""Benchmark: the event path (outbox commit → relay → JetStream → consumer with inbox → ack)
next to raw JetStream async publish, measured in the same run on the same nats-server.

    make bench                       # SQLite, then PostgreSQL: 3 runs each, medians
    .venv/bin/python -m bench.event_path --runs 5 --events 20000 --writers 16 --per-tx 1 20 --postgres

As deployed: the producing service (its writers and its outbox relay) and the consuming service
(its consumer, its own database) are processes of their own. On PostgreSQL the writers run in a
third process (`--writers-apart`, the default there: another replica of the producing service
sharing its database), so each process's CPU per event is its own; on SQLite, whose file serves
one process, they share the relay's. Each run measures the raw baseline, then the path for each
producer shape (`--per-tx`: events per business transaction, written by one `publish_in`), and
prints per-run figures, then the median of each figure and of the ratio to the same run's
baseline. With one event per transaction the producers' commits are the ceiling (on PostgreSQL
every commit is a WAL flush); with 20 — a service that commits concurrent requests together —
the path itself is measured as long as the writers' commits (printed beside it) outrun it.
Unpaced, the writers commit in bursts faster than the path, so that lag measures the queue
behind them; each run then measures a backlog drain (the path alone) and the lag at a steady
rate below capacity: writers paced at each `--rate` events/s (a lag curve), else at
`--rate-share` (0.8) of the rate the run delivered unpaced, in the relay's process (a replica:
its commits wake its relay; writers apart would wait out the relay's poll). A paced run's
delivered rate is the consumer's acks from the first to the last, next to the writers' commits
likewise (did they offer the rate?); events over the time from the schedule's start to the last
ack, printed below them, is short of the target by design (the last events' lag is in it).

Machines here have 2 noisy cores shared by nats-server, the processes and the database: the
throughput figures are lower bounds; the steadier ones are the CPU per event of each process
(psutil: writers, relay, consumer, PostgreSQL's backends, nats-server) and the ratio to the
same-run baseline. `--profile DIR` writes cProfile stats (CPU time) of the processes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import psutil
from google.protobuf.wrappers_pb2 import StringValue

from bench.pos_redeem import postgres_processes
from bench.stats import median, percentile, print_table
from linli_runtime.db import Database
from linli_runtime.events import ConsumerSpec, Event, EventConsumer, OutboxRelay, StreamSpec, make_event, publish_in
from linli_runtime.events.bus import EventBus
from linli_runtime.migrations import upgrade
from linli_runtime.processes import EmbeddedPostgres, NatsServer

PAYLOAD = "x" * 120
PATH_STREAM = StreamSpec("BENCHPATH", ("benchpath.>",))
RAW_STREAM = StreamSpec("BENCHRAW", ("benchraw.>",))


async def raw_publish(bus: EventBus, n: int) -> float:
    """Raw JetStream: publish_async n messages (with Nats-Msg-Id, like the relay), await all acks."""
    js = bus.js
    data = make_event("benchraw.thing.happened", StringValue(value=PAYLOAD), org_scope="chengdu",
                      source="bench").SerializeToString()
    started = time.perf_counter()
    futures = []
    for i in range(n):
        futures.append(await js.publish_async("benchraw.thing.happened", data, headers={"Nats-Msg-Id": f"raw-{i}"}))
    await asyncio.gather(*futures)
    return n / (time.perf_counter() - started)


async def raw_publish_awaited(bus: EventBus, n: int) -> float:
    """Raw JetStream, one message at a time: each js.publish awaits its PubAck (a round trip)."""
    js = bus.js
    data = make_event("benchraw.thing.happened", StringValue(value=PAYLOAD), org_scope="chengdu",
                      source="bench").SerializeToString()
    started = time.perf_counter()
    for i in range(n):
        await js.publish("benchraw.thing.happened", data, headers={"Nats-Msg-Id": f"raw-awaited-{i}"})
    return n / (time.perf_counter() - started)


# --- the consuming service, in a process of its own ------------------------------------------

def consumer_process(nats_url: str, database_url: str, pipe: Connection, profile: str = "") -> None:
    profiler = cProfile.Profile(time.thread_time) if profile else None
    if profiler is not None:
        profiler.enable()
    asyncio.run(_consume(nats_url, database_url, pipe))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)


async def _consume(nats_url: str, database_url: str, pipe: Connection) -> None:
    """Consume BENCHPATH (one durable consumer for every round and shape: each picks up where the
    last stopped) and note when each event was acked. On ("collect", n) from the parent: wait
    until n events were acked since the last collect, then send back their ack times (the
    system-wide monotonic clock, comparable across processes) and the CPU spent meanwhile."""
    logging.basicConfig(level=logging.ERROR)
    db = Database(database_url)
    await upgrade(db)
    bus = EventBus(nats_url, name="bench-consumer", streams=[PATH_STREAM])
    bus.start()
    await bus.wait_ready(15)
    acked: dict[str, float] = {}
    progress = asyncio.Event()

    async def handler(event: Event, session: object) -> None:
        pass

    spec = ConsumerSpec(name="bench", stream=PATH_STREAM.name, subjects=["benchpath.>"], handler=handler, batch=200)
    consumer = EventConsumer(spec, db, bus)
    process_batch = consumer.process_batch

    applying = [0.0]  # CPU spent in process_batch (the rest: fetching, NATS's parsing, the loop)

    async def timed_process_batch(msgs):  # type: ignore[no-untyped-def]
        cpu = time.process_time()
        outcomes = await process_batch(msgs)
        applying[0] += time.process_time() - cpu
        now = time.perf_counter()
        for msg in msgs:
            acked[msg.headers["Nats-Msg-Id"]] = now
        progress.set()
        return outcomes

    consumer.process_batch = timed_process_batch  # type: ignore[method-assign]
    consumer.start()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[object] = asyncio.Queue()
    loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
    pipe.send("ready")
    cpu_since = time.process_time()
    while (command := await commands.get()) != "stop":
        assert isinstance(command, tuple) and command[0] == "collect"
        deadline = loop.time() + 300
        while len(acked) < command[1] and loop.time() < deadline:
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), 1)
            except TimeoutError:
                pass
        cpu = time.process_time() - cpu_since
        pipe.send((dict(acked), cpu, applying[0]))
        applying[0] = 0.0
        acked.clear()
        cpu_since = time.process_time()
    loop.remove_reader(pipe.fileno())
    await consumer.stop()
    await bus.close()
    await db.dispose()


# --- the producing service: writers and the outbox relay -------------------------------------

async def write_events(db: Database, n: int, writers: int, per_tx: int,
                       rate: float = 0.0) -> tuple[dict[str, float], float]:
    """`writers` concurrent business transactions, each writing `per_tx` events with one
    `publish_in`, n events in all (whole transactions); returns each event's commit time and when
    the last writer finished. With a `rate` (events/s) the transactions start on a fixed schedule
    (the writers take turns: transaction k of writer w at slot k·writers + w) — requests arriving
    steadily, as a service sees them — instead of as fast as the writers can commit."""
    committed: dict[str, float] = {}
    per_writer = max(per_tx, n // writers // per_tx * per_tx)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def writer(w: int) -> None:
        for k, _ in enumerate(range(0, per_writer, per_tx)):
            if rate > 0:
                await asyncio.sleep(max(0.0, started + (k * writers + w) * per_tx / rate - loop.time()))
            async with db.transaction() as session:
                events = [make_event("benchpath.thing.happened", StringValue(value=PAYLOAD),
                                     org_scope="chengdu", source="bench") for _ in range(per_tx)]
                await publish_in(session, *events)  # one statement for the transaction's events
            now = time.perf_counter()
            for event in events:
                committed[event.event_id] = now

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return committed, time.perf_counter()


def writer_process(database_url: str, pipe: Connection, profile: str = "") -> None:
    """Writers apart from the relay (another replica of the producing service): on ("write", n,
    writers, per_tx, rate) write, then send back the commit times and when the last one committed."""
    profiler = cProfile.Profile(time.thread_time) if profile else None
    asyncio.run(_write_on_command(database_url, pipe, profiler))
    if profiler is not None:
        profiler.dump_stats(profile)


async def _write_on_command(database_url: str, pipe: Connection, profiler: cProfile.Profile | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    db = Database(database_url)
    loop = asyncio.get_running_loop()
    pipe.send("ready")
    while (command := await loop.run_in_executor(None, pipe.recv)) != "stop":
        _, n, writers, per_tx, rate = command
        if profiler is not None:
            profiler.enable()
        pipe.send(await write_events(db, n, writers, per_tx, rate))
        if profiler is not None:
            profiler.disable()
    await db.dispose()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@dataclass
class Processes:
    """The pids of each part of the path, for CPU per event (psutil)."""

    consumer: int
    nats: int
    writers: int | None  # None: the writers share the relay's process
    postmaster: int | None  # None on SQLite
    # Every PostgreSQL process seen, with its CPU when last seen: backends start with each new
    # pooled connection, and one that ended keeps the share it had.
    _postgres: dict[int, float] = field(default_factory=dict)

    def _postgres_cpu(self) -> float:
        if self.postmaster is None:
            return 0.0
        try:
            postmaster = psutil.Process(self.postmaster)
            for proc in (postmaster, *postmaster.children(recursive=True)):
                self._postgres[proc.pid] = _cpu_seconds([proc.pid]) or self._postgres.get(proc.pid, 0.0)
        except psutil.Error:
            pass
        return sum(self._postgres.values())

    def cpu(self) -> dict[str, float]:
        return {"producer": _cpu_seconds([os.getpid()]), "consumer": _cpu_seconds([self.consumer]),
                "writers": _cpu_seconds([self.writers]) if self.writers else 0.0,
                "postgres": self._postgres_cpu(), "nats": _cpu_seconds([self.nats])}


async def event_path(db: Database, bus: EventBus, consumer: Connection, writers_pipe: Connection | None,
                     procs: Processes, n: int, writers: int, per_tx: int, rate: float = 0.0) -> dict[str, float]:
    """The path with the writers running: as fast as they commit, or paced at `rate` events/s."""
    expected = max(per_tx, n // writers // per_tx * per_tx) * writers
    relay = OutboxRelay(db, bus, service="bench", poll_interval=0.5)
    relay.start()
    loop = asyncio.get_running_loop()
    cpu_before = procs.cpu()
    started = time.perf_counter()
    if writers_pipe is None:
        committed, write_done = await write_events(db, n, writers, per_tx, rate)
    else:
        writers_pipe.send(("write", n, writers, per_tx, rate))
        committed, write_done = await loop.run_in_executor(None, writers_pipe.recv)
    consumer.send(("collect", expected))
    acked, _, applying_cpu = await loop.run_in_executor(None, consumer.recv)
    cpu_after = procs.cpu()
    await relay.stop(1)
    finished = max(acked.values()) if acked else time.perf_counter()
    lags = [(acked[i] - committed[i]) * 1000 for i in acked if i in committed]
    delivered = sum(1 for i in acked if i in committed)
    per_event = {part: (cpu_after[part] - cpu_before[part]) / max(1, delivered) * 1e6 for part in cpu_after}
    figures = {
        "events": float(delivered),
        "written": float(expected),
        "rate": delivered / (finished - started),
        "commit_rate": expected / (write_done - started),
        "ack_span_rate": _span_rate([acked[i] for i in acked if i in committed]),
        "commit_span_rate": _span_rate(list(committed.values())),
        "lag_p50_ms": median(lags),
        "lag_p99_ms": percentile(lags, 99),
        "lag_max_ms": max(lags, default=0.0),
        "applying_cpu_us": applying_cpu / max(1, delivered) * 1e6,
    }
    figures.update({f"{part}_cpu_us": us for part, us in per_event.items()})
    return figures


def _span_rate(times: list[float]) -> float:
    """Events a second between the first and the last of `times`: those after the first instant
    over the time from it to the last. For writers paced at a rate r, `rate` (events over the time
    from the schedule's start to the last ack) is below r by construction — the last transaction
    starts at the schedule's end and its events still take their lag — so it cannot show that the
    path kept up with r; this one is r when commits (or acks) came as fast as they were offered."""
    if len(times) < 2:
        return 0.0
    first, last = min(times), max(times)
    return sum(1 for t in times if t > first) / (last - first) if last > first else 0.0


async def drain(db: Database, bus: EventBus, consumer: Connection, procs: Processes, n: int, writers: int,
                per_tx: int) -> dict[str, float]:
    """The path's own capacity, writers aside: n events committed while no relay runs, then the
    relay started and timed until the consumer acked them all (a backlog after NATS was away)."""
    committed, _ = await write_events(db, n, writers, per_tx)
    loop = asyncio.get_running_loop()
    cpu_before = procs.cpu()
    started = time.perf_counter()
    relay = OutboxRelay(db, bus, service="bench", poll_interval=0.5)
    relay.start()
    consumer.send(("collect", len(committed)))
    acked, _, _ = await loop.run_in_executor(None, consumer.recv)
    cpu_after = procs.cpu()
    await relay.stop(1)
    delivered = sum(1 for i in acked if i in committed)
    finished = max(acked.values()) if acked else time.perf_counter()
    figures = {"drain_rate": delivered / (finished - started)}
    for part in ("producer", "consumer", "postgres", "nats"):
        figures[f"drain_{part}_cpu_us"] = (cpu_after[part] - cpu_before[part]) / max(1, delivered) * 1e6
    return figures


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    profile = Path(args.profile) if args.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    writers_apart = args.postgres if args.writers_apart is None else args.writers_apart
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        nats = NatsServer(Path(tmp) / "nats").start()
        pg = EmbeddedPostgres(Path(tmp) / "pg" / "data") if args.postgres else None
        if pg is not None and args.pg_statements:
            # pg_stat_statements is loaded at start: set it, then start the server again.
            pg._admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';")
            pg.stop()
            pg = EmbeddedPostgres(Path(tmp) / "pg" / "data")
        statements = ""
        children: list[multiprocessing.process.BaseProcess] = []
        try:
            def url(name: str) -> str:
                return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{Path(tmp) / (name + '.db')}"

            db = Database(url("producer"))
            await upgrade(db)
            bus = EventBus(nats.url, name="bench", streams=[RAW_STREAM, PATH_STREAM])
            bus.start()
            await bus.wait_ready(15)
            loop = asyncio.get_running_loop()

            async def start(target: Callable[..., None], name: str, *args_: object) -> Connection:
                pipe, child_pipe = multiprocessing.Pipe()
                prof = str(profile / f"{name}.prof") if profile else ""
                child = spawn.Process(target=target, name=f"bench-{name}", args=(*args_, child_pipe, prof))
                child.start()
                children.append(child)
                if not await loop.run_in_executor(None, pipe.poll, 60) or pipe.recv() != "ready":
                    raise RuntimeError(f"the {name} process did not start")
                return pipe

            consumer = await start(consumer_process, "consumer", nats.url, url("consumer"))
            writers_pipe = await start(writer_process, "writers", url("producer")) if writers_apart else None
            assert nats.proc is not None and children[0].pid is not None
            procs = Processes(consumer=children[0].pid, nats=nats.proc.pid,
                              writers=children[1].pid if writers_apart else None,
                              postmaster=postgres_processes(Path(tmp) / "pg" / "data")[0].pid if pg else None)
            if pg is not None and args.pg_statements:  # the view shows every database's statements
                pg._admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
            runs: list[dict[str, float]] = []
            producer_profile = cProfile.Profile(time.thread_time) if profile else None
            for run in range(args.runs):
                raw = await raw_publish(bus, args.events)
                awaited = await raw_publish_awaited(bus, min(args.events, 2000))
                for per_tx in args.per_tx:
                    if producer_profile is not None:
                        producer_profile.enable()
                    figures = await event_path(db, bus, consumer, writers_pipe, procs,
                                               args.events, args.writers, per_tx)
                    if producer_profile is not None:
                        producer_profile.disable()
                    figures.update(await drain(db, bus, consumer, procs, args.events, args.writers, per_tx))
                    # Lag at a steady arrival rate below what the run delivered unpaced (there the
                    # writers commit in bursts faster than the path: the lag measured the queue).
                    # The writers run beside the relay, as in a service whose requests' commits wake
                    # its own relay (a process of writers without one waits out its poll).
                    for i, rate in enumerate(args.rate or [args.rate_share * figures["rate"]]):
                        paced = await event_path(db, bus, consumer, None, procs, args.events, args.writers,
                                                 per_tx, rate)
                        figures.update({f"paced{i}_{key}": value for key, value in paced.items()})
                        figures[f"paced{i}_target"] = rate
                    figures.update(run=run + 1, per_tx=per_tx, raw=raw, awaited=awaited, ratio=figures["rate"] / raw,
                                   drain_ratio=figures["drain_rate"] / raw, load=os.getloadavg()[0])
                    runs.append(figures)
            if producer_profile is not None and profile is not None:
                producer_profile.dump_stats(profile / "producer.prof")
            if pg is not None and args.pg_statements:
                statements = pg._server.psql(
                    "SELECT d.datname AS db, s.calls, s.rows, round(s.total_exec_time::numeric, 0) AS total_ms, "
                    "round((s.total_exec_time * 1000 / greatest(s.rows, 1))::numeric, 1) AS us_per_row, "
                    "round(s.mean_exec_time::numeric, 2) AS ms_per_call, "
                    "s.wal_records, s.wal_fpi, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) AS query "
                    "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                    f"ORDER BY s.total_exec_time DESC LIMIT {args.pg_statements};")
            for pipe in (consumer, writers_pipe):
                if pipe is not None:
                    pipe.send("stop")
            for child in children:
                await loop.run_in_executor(None, child.join, 30)
            await bus.close()
            await db.dispose()
        finally:
            for child in children:
                if child.is_alive():
                    child.terminate()
            nats.stop()
            if pg:
                pg.stop()
    report(args, runs, writers_apart)
    if statements:
        print("PostgreSQL statements by execution time, every run and drain (pg_stat_statements: wall time, "
              "waiting for a CPU included; the commit's WAL flush is not in it):")
        print(statements)


# (label, key, format): one row per figure, one column per run and one for the median.
FIGURES: list[tuple[str, str, str]] = [
    ("raw JetStream publish_async (baseline), events/s", "raw", "{:,.0f}"),
    ("raw JetStream publish, each PubAck awaited, events/s", "awaited", "{:,.0f}"),
    ("outbox commit → consumer ack, events/s", "rate", "{:,.0f}"),
    ("  ratio to the run's baseline", "ratio", "{:.1%}"),
    ("  business commits (writers), events/s", "commit_rate", "{:,.0f}"),
    ("  lag commit → ack p50, ms", "lag_p50_ms", "{:,.1f}"),
    ("  lag commit → ack p99, ms", "lag_p99_ms", "{:,.1f}"),
    ("  CPU µs/event: relay process (+ writers when not apart)", "producer_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: writers process", "writers_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: consumer process", "consumer_cpu_us", "{:,.0f}"),
    ("    of which process_batch (inbox, handler, commit, acks)", "applying_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: PostgreSQL (every backend)", "postgres_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: nats-server", "nats_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: all of the path", "total_cpu_us", "{:,.0f}"),
    ("  events delivered / written", "events", "{:,.0f}"),
    ("backlog drain (written first, the relay started after), events/s", "drain_rate", "{:,.0f}"),
    ("  ratio to the run's baseline", "drain_ratio", "{:.1%}"),
    ("  CPU µs/event: relay process", "drain_producer_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: consumer process", "drain_consumer_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: PostgreSQL (every backend)", "drain_postgres_cpu_us", "{:,.0f}"),
    ("  CPU µs/event: nats-server", "drain_nats_cpu_us", "{:,.0f}"),
    ("  load average (1 min) after the run", "load", "{:.1f}"),
]
# One block per paced rate (`paced<i>_` keys).
PACED: list[tuple[str, str, str]] = [
    ("writers paced beside the relay (--rate / --rate-share), events/s", "target", "{:,.0f}"),
    ("  delivered: consumer acks, first to last, events/s", "ack_span_rate", "{:,.0f}"),
    ("  offered: business commits, first to last, events/s", "commit_span_rate", "{:,.0f}"),
    ("  events / (schedule start → last ack) (< target by design)", "rate", "{:,.0f}"),
    ("  lag commit → ack p50, ms", "lag_p50_ms", "{:,.1f}"),
    ("  lag commit → ack p99, ms", "lag_p99_ms", "{:,.1f}"),
    ("  lag commit → ack max, ms", "lag_max_ms", "{:,.1f}"),
    ("  CPU µs/event: all of the path", "total_cpu_us", "{:,.0f}"),
    ("  events delivered / written", "events", "{:,.0f}"),
]


def report(args: argparse.Namespace, runs: list[dict[str, float]], writers_apart: bool) -> None:
    engine = "PostgreSQL" if args.postgres else "SQLite"
    for figures in runs:
        for prefix in ("", *(f"paced{i}_" for i in range(len(args.rate) or 1))):
            figures[f"{prefix}total_cpu_us"] = sum(figures[f"{prefix}{part}_cpu_us"] for part in
                                                   ("producer", "writers", "consumer", "postgres", "nats"))
    for per_tx in args.per_tx:
        shape = [r for r in runs if r["per_tx"] == per_tx]
        rows = []
        paced = [(label, f"paced{i}_{key}", fmt) for i in range(len(args.rate) or 1) for label, key, fmt in PACED]
        for label, key, fmt in [*FIGURES, *paced]:
            if (key == "writers_cpu_us" and not writers_apart) or ("postgres" in key and not args.postgres):
                continue
            values = [r[key] for r in shape]
            cells = [fmt.format(v) for v in values]
            if key.endswith("events"):
                written = key.replace("events", "written")
                cells = [f"{v:,.0f} / {r[written]:,.0f}" for v, r in zip(values, shape, strict=True)]
            rows.append([label, *cells, fmt.format(median(values)) if not key.endswith("events") else cells[-1]])
        print_table(
            f"Event path on {engine}, {per_tx} event{'s' if per_tx > 1 else ''}/tx: {args.events} events a run, "
            f"{args.writers} writers{' (a process apart)' if writers_apart else ''}, {len(shape)} run(s)",
            ["measure", *(f"run {int(r['run'])}" for r in shape), "median"],
            rows,
            width=80 + 16 * (len(shape) + 1),
        )
    # Where each part ran: in the platform each service's relay runs in the service's own process,
    # next to the writers of that replica; the figures above are only honest with this said.
    print("Processes: the producing service's outbox relay runs in the bench's own process; "
          + ("the unpaced writers and the backlog's writers in one process apart (another replica of the same "
             "service, sharing its database, its relay not started: the one relay publishes for both)"
             if writers_apart else "every writer beside the relay (one process, as one replica)")
          + "; writers paced at --rate beside the relay (one replica: its commits wake its relay); the "
          "consuming service (its consumer, its own database) in one process; one nats-server"
          + (", one PostgreSQL." if args.postgres else "."))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000, help="events per measurement")
    parser.add_argument("--writers", type=int, default=8, help="concurrent business transactions")
    parser.add_argument("--per-tx", type=int, nargs="+", default=[20],
                        help="events per producer transaction; one measurement per value and run")
    parser.add_argument("--runs", type=int, default=3, help="baseline + path, this many times; medians printed")
    parser.add_argument("--writers-apart", action=argparse.BooleanOptionalAction, default=None,
                        help="writers in a process of their own (default: on PostgreSQL)")
    parser.add_argument("--rate", type=float, nargs="*", default=[],
                        help="paced measurements' writers, events/s, one measurement each "
                             "(default: one, at --rate-share of the unpaced rate)")
    parser.add_argument("--rate-share", type=float, default=0.8,
                        help="the paced rate as a share of the run's unpaced delivered rate (default 0.8)")
    parser.add_argument("--postgres", action="store_true", help="use an embedded PostgreSQL instead of SQLite")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="PostgreSQL: print the N statements that took the most time (pg_stat_statements)")
    parser.add_argument("--profile", metavar="DIR", default="",
                        help="write cProfile stats: DIR/producer.prof, DIR/consumer.prof, DIR/writers.prof")
    asyncio.run(main(parser.parse_args()))
