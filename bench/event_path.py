"""Benchmark: the event path (outbox commit → relay → JetStream → consumer with inbox → ack)
next to raw JetStream async publish, measured in the same run on the same nats-server.

    make bench                       # SQLite, default sizes
    .venv/bin/python -m bench.event_path --events 20000 --writers 8 --per-tx 1 20 --postgres

As deployed: the producing service (its writers and its outbox relay) is one process, the
consuming service (its consumer, its own database) another. Prints events/s for both, their
ratio, the lag from commit to ack (p50/p99) and the CPU each process spent per event, for each
producer shape: 8 writers committing 1 event per transaction, then 20. With one event per
transaction the producers' commits are the ceiling (on PostgreSQL every commit is an fsync, and
a Python transaction costs more CPU than relaying and applying its event), so the delivered rate
is the commit rate; with 20 — a service that commits concurrent requests together, their events
written by one `publish_in` — the path itself is measured, as long as the writers' commits
(printed beside it) outrun it. Machines here have 2 noisy cores shared by nats-server, both
processes and the database: repeat runs and quote medians and ratios, not absolute numbers; the
CPU per event is the steadier figure. Also printed: raw JetStream publishing each message's PubAck
awaited, and `--profile DIR` writes cProfile stats (CPU time) of both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue

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

async def event_path(db: Database, bus: EventBus, pipe: Connection, n: int, writers: int,
                     per_tx: int) -> dict[str, float]:
    committed: dict[str, float] = {}
    per_writer = max(per_tx, n // writers // per_tx * per_tx)  # whole transactions
    expected = per_writer * writers
    relay = OutboxRelay(db, bus, service="bench", poll_interval=0.5)
    relay.start()

    async def writer() -> None:
        for _ in range(0, per_writer, per_tx):
            async with db.transaction() as session:
                events = [make_event("benchpath.thing.happened", StringValue(value=PAYLOAD),
                                     org_scope="chengdu", source="bench") for _ in range(per_tx)]
                await publish_in(session, *events)  # one statement for the transaction's events
            now = time.perf_counter()
            for event in events:
                committed[event.event_id] = now

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(writer() for _ in range(writers)))
    write_done = time.perf_counter()
    pipe.send(("collect", expected))
    acked, consumer_cpu, applying_cpu = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    cpu = time.process_time() - cpu_started
    await relay.stop(1)
    finished = max(acked.values()) if acked else time.perf_counter()
    lags = [(acked[i] - committed[i]) * 1000 for i in acked if i in committed]
    delivered = sum(1 for i in acked if i in committed)
    return {
        "events": float(delivered),
        "written": float(expected),
        "rate": delivered / (finished - started),
        "commit_rate": expected / (write_done - started),
        "producer_cpu_us": cpu / max(1, delivered) * 1e6,
        "consumer_cpu_us": consumer_cpu / max(1, delivered) * 1e6,
        "applying_cpu_us": applying_cpu / max(1, delivered) * 1e6,
        "lag_p50_ms": median(lags),
        "lag_p99_ms": percentile(lags, 99),
    }


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    profile = Path(args.profile) if args.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        nats = NatsServer(Path(tmp) / "nats").start()
        pg = EmbeddedPostgres(Path(tmp) / "pg" / "data") if args.postgres else None
        child = None
        try:
            def url(name: str) -> str:
                return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{Path(tmp) / (name + '.db')}"

            db = Database(url("producer"))
            await upgrade(db)
            bus = EventBus(nats.url, name="bench", streams=[RAW_STREAM, PATH_STREAM])
            bus.start()
            await bus.wait_ready(15)
            pipe, child_pipe = multiprocessing.Pipe()
            child = multiprocessing.get_context("spawn").Process(
                target=consumer_process, name="bench-consumer",
                args=(nats.url, url("consumer"), child_pipe, str(profile / "consumer.prof") if profile else ""))
            child.start()
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, pipe.poll, 60):
                raise RuntimeError("the consumer process did not start")
            assert pipe.recv() == "ready"
            raw_rates: list[float] = []
            awaited_rates: list[float] = []
            paths: dict[int, list[dict[str, float]]] = {per_tx: [] for per_tx in args.per_tx}
            producer_profile = cProfile.Profile(time.thread_time) if profile else None
            for _ in range(args.rounds):
                raw_rates.append(await raw_publish(bus, args.events))
                awaited_rates.append(await raw_publish_awaited(bus, min(args.events, 2000)))
                for per_tx in args.per_tx:
                    if producer_profile is not None:
                        producer_profile.enable()
                    paths[per_tx].append(await event_path(db, bus, pipe, args.events, args.writers, per_tx))
                    if producer_profile is not None:
                        producer_profile.disable()
            if producer_profile is not None and profile is not None:
                producer_profile.dump_stats(profile / "producer.prof")
            pipe.send("stop")
            await loop.run_in_executor(None, child.join, 30)
            await bus.close()
            await db.dispose()
        finally:
            if child is not None and child.is_alive():
                child.terminate()
            nats.stop()
            if pg:
                pg.stop()
    engine = "PostgreSQL" if args.postgres else "SQLite"
    raw = median(raw_rates)
    rows = [["raw JetStream publish_async (baseline)", f"{raw:,.0f} events/s"],
            ["raw JetStream publish, each PubAck awaited", f"{median(awaited_rates):,.0f} events/s"]]
    for per_tx, runs in paths.items():
        path_rate = median([p["rate"] for p in runs])
        shape = f"{per_tx} event{'s' if per_tx > 1 else ''}/tx"
        rows += [
            [f"outbox commit → consumer ack, {shape}", f"{path_rate:,.0f} events/s"],
            ["  ratio to baseline", f"{path_rate / raw:.1%}"],
            ["  business commits (writers)", f"{median([p['commit_rate'] for p in runs]):,.0f} events/s"],
            ["  lag commit → ack p50", f"{median([p['lag_p50_ms'] for p in runs]):,.1f} ms"],
            ["  lag commit → ack p99", f"{median([p['lag_p99_ms'] for p in runs]):,.1f} ms"],
            ["  CPU per event: producer (writers + relay)", f"{median([p['producer_cpu_us'] for p in runs]):,.0f} µs"],
            ["  CPU per event: consumer", f"{median([p['consumer_cpu_us'] for p in runs]):,.0f} µs"],
            ["    of which process_batch (inbox, handler, commit, acks)",
             f"{median([p['applying_cpu_us'] for p in runs]):,.0f} µs"],
            ["  events/s one free core would carry: producer | consumer (1e6 / CPU µs)",
             f"{1e6 / median([p['producer_cpu_us'] for p in runs]):,.0f} | "
             f"{1e6 / median([p['consumer_cpu_us'] for p in runs]):,.0f}"],
            ["  events delivered / written", f"{min(p['events'] for p in runs):,.0f} / {runs[0]['written']:,.0f}"],
        ]
    print_table(
        f"Event path on {engine}: {args.events} events/round, {args.writers} writers, "
        f"{args.rounds} round(s), medians",
        ["measure", "value"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-tx", type=int, nargs="+", default=[1, 20],
                        help="events per producer transaction; one measurement per value")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="use an embedded PostgreSQL instead of SQLite")
    parser.add_argument("--profile", metavar="DIR", default="",
                        help="write cProfile stats of the path's rounds: DIR/producer.prof, DIR/consumer.prof")
    asyncio.run(main(parser.parse_args()))
