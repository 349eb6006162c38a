"""Benchmark: the event path (outbox commit → relay → JetStream → consumer with inbox → ack)
next to raw JetStream async publish, measured in the same run on the same nats-server.

    make bench                       # SQLite, default sizes
    .venv/bin/python -m bench.event_path --events 20000 --writers 8 --per-tx 1 --postgres

Prints events/s for both, their ratio, and the lag from commit to ack (p50/p99). Machines here
have 2 noisy cores: repeat runs and quote medians and ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue

from bench.stats import median, percentile, print_table
from linli_runtime.db import Database
from linli_runtime.events import ConsumerSpec, EventConsumer, OutboxRelay, StreamSpec, make_event, publish_in
from linli_runtime.events.bus import EventBus
from linli_runtime.migrations import upgrade
from linli_runtime.processes import EmbeddedPostgres, NatsServer

PAYLOAD = "x" * 120


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


async def event_path(db: Database, consumer_db: Database, bus: EventBus, n: int, writers: int,
                     per_tx: int) -> dict[str, float]:
    committed: dict[str, float] = {}
    acked: dict[str, float] = {}
    all_acked = asyncio.Event()
    per_writer = n // writers
    expected = per_writer * writers

    async def handler(event, session) -> None:  # type: ignore[no-untyped-def]
        pass

    spec = ConsumerSpec(name="bench", stream="BENCHPATH", subjects=["benchpath.>"], handler=handler, batch=200)
    consumer = EventConsumer(spec, consumer_db, bus)  # another service: its own database
    real_process_batch = consumer.process_batch

    async def timed_process_batch(msgs):  # type: ignore[no-untyped-def]
        outcomes = await real_process_batch(msgs)
        now = time.perf_counter()
        for msg in msgs:
            acked[msg.headers["Nats-Msg-Id"]] = now
        if len(acked) >= expected:
            all_acked.set()
        return outcomes

    consumer.process_batch = timed_process_batch  # type: ignore[method-assign]
    relay = OutboxRelay(db, bus, service="bench", poll_interval=0.5)
    relay.start()
    consumer.start()

    async def writer() -> None:
        for _ in range(0, per_writer, per_tx):
            async with db.transaction() as session:
                ids = []
                for _ in range(per_tx):
                    event = make_event("benchpath.thing.happened", StringValue(value=PAYLOAD),
                                       org_scope="chengdu", source="bench")
                    await publish_in(session, event)
                    ids.append(event.event_id)
            now = time.perf_counter()
            for event_id in ids:
                committed[event_id] = now

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    write_done = time.perf_counter()
    try:
        await asyncio.wait_for(all_acked.wait(), 300)
    except TimeoutError:
        pass  # reported below as events delivered < written
    finished = max(acked.values()) if acked else time.perf_counter()
    await consumer.stop()
    await relay.stop(1)
    lags = [(acked[i] - committed[i]) * 1000 for i in acked if i in committed]
    return {
        "events": float(len(acked)),
        "rate": len(acked) / (finished - started),
        "commit_rate": expected / (write_done - started),
        "lag_p50_ms": median(lags),
        "lag_p99_ms": percentile(lags, 99),
    }


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        nats = NatsServer(Path(tmp) / "nats").start()
        pg = EmbeddedPostgres(Path(tmp) / "pg" / "data") if args.postgres else None
        try:
            def url(name: str) -> str:
                return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{Path(tmp) / (name + '.db')}"

            db, consumer_db = Database(url("producer")), Database(url("consumer"))
            await upgrade(db)
            await upgrade(consumer_db)
            bus = EventBus(nats.url, name="bench", streams=[
                StreamSpec("BENCHRAW", ("benchraw.>",)), StreamSpec("BENCHPATH", ("benchpath.>",))])
            bus.start()
            await bus.wait_ready(15)
            raw_rates, paths = [], []
            for _ in range(args.rounds):
                raw_rates.append(await raw_publish(bus, args.events))
                paths.append(await event_path(db, consumer_db, bus, args.events, args.writers, args.per_tx))
            await bus.close()
            await db.dispose()
            await consumer_db.dispose()
        finally:
            nats.stop()
            if pg:
                pg.stop()
    engine = "PostgreSQL" if args.postgres else "SQLite"
    raw = median(raw_rates)
    path_rate = median([p["rate"] for p in paths])
    print_table(
        f"Event path on {engine}: {args.events} events/round, {args.writers} writers, {args.per_tx} event(s)/tx, "
        f"{args.rounds} round(s), medians",
        ["measure", "value"],
        [
            ["raw JetStream publish_async (baseline)", f"{raw:,.0f} events/s"],
            ["outbox commit → consumer ack", f"{path_rate:,.0f} events/s"],
            ["  ratio to baseline", f"{path_rate / raw:.1%}"],
            ["  business commits (writers)", f"{median([p['commit_rate'] for p in paths]):,.0f} events/s"],
            ["lag commit → ack p50", f"{median([p['lag_p50_ms'] for p in paths]):,.1f} ms"],
            ["lag commit → ack p99", f"{median([p['lag_p99_ms'] for p in paths]):,.1f} ms"],
            ["events delivered / written", f"{min(p['events'] for p in paths):,.0f} / {args.events}"],
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-tx", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="use an embedded PostgreSQL instead of SQLite")
    asyncio.run(main(parser.parse_args()))
