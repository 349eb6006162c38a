"""Benchmark: the points ledger through gRPC on PostgreSQL, next to a bare gRPC echo measured
in the same run, and the year-end close over generated, bulk-loaded data.

    .venv/bin/python -m bench.points_ledger                       # quick: 10 000 volunteers
    .venv/bin/python -m bench.points_ledger --close-volunteers 1000000 --communities 1000
    .venv/bin/python -m bench.points_ledger --only batch --batch 1000 --batch-transfers 20000  # one path

Reports (one line each, and JSON with --json):
- echo calls/s: `BareEchoServicer` on a plain grpc.aio server — what the gRPC stack alone does;
- transfers/s: `CreateTransfer` (issuance → volunteers, distinct ids) through the full service
  (auth, scope, error mapping, the ledger's locked transaction, an outbox event per credit);
- hold+post/s: `PlaceHold` then `PostHold` pairs, as partner-redemption makes them;
- batched transfers/s: `CreateTransfers`, `--batch` transfers per call, 2 calls in flight, the
  requests built before the clock starts (the client shares the process);
- year-end close: `CloseYear` for every generated community, after bulk-loading volunteers and
  their credits (COPY) straight into the service's tables.

Everything runs on this machine: an embedded PostgreSQL, a nats-server, the service in process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
import psutil
from linli_identity.testing import TestIssuer
from linli_points.app import create_app
from linli_points.ledger.store import Ledger
from linli_points.settings import PointsSettings

from bench.stats import median, print_table
from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli.points.v1 import awards_pb2, awards_pb2_grpc, ledger_pb2, ledger_pb2_grpc
from linli_runtime.clock import ManualClock
from linli_runtime.memory import settle_memory
from linli_runtime.processes import EmbeddedPostgres, NatsServer, free_port
from linli_runtime.testing.echo import BareEchoServicer
from linli_runtime.testing.waiting import wait_until

COMMUNITY = "chengdu/bench/c0000"


async def rate(n: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second for `n` calls with `concurrency` in flight."""
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def bench_echo(n: int, concurrency: int) -> float:
    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(BareEchoServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            await stub.Echo(echo_pb2.EchoRequest(message="warm"))
            return await rate(n, concurrency, lambda i: stub.Echo(echo_pb2.EchoRequest(message="x")))
    finally:
        await server.stop(0)


async def bulk_load(dsn: str, volunteers: int, communities: int, year: int) -> float:
    """Volunteers and one credit each (points earned in `year`), straight into the tables."""
    start = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        when = datetime(year, 6, 1, tzinfo=UTC)
        per = volunteers // communities
        accounts, transfers, people = [], [], []
        next_id = 1_000_000
        for c in range(communities):
            path = f"chengdu/bench/close{c:05d}"
            issuance_id, next_id = next_id, next_id + 1
            points_of = [(v * 7919) % 500 + 1 for v in range(per)]
            accounts.append((issuance_id, path, "system/issuance", True, sum(points_of), 0, 0, 0, 0, when))
            running = 0
            for v, points in enumerate(points_of):
                vid = f"v{v:07d}"
                running += points
                account_id, next_id = next_id, next_id + 1
                accounts.append((account_id, path, f"volunteers/{vid}", False, 0, points, 0, 0, points, when))
                transfers.append((path, f"bench:{vid}", 1, issuance_id, account_id, "system/issuance",
                                  f"volunteers/{vid}", points, "governance", "bench", "", "x" * 64, -running, points,
                                  when))
                people.append((path, vid, f"volunteer {vid}", "", "", "x" * 64, when))
        await conn.copy_records_to_table("points_account", records=accounts, columns=[
            "id", "community_path", "name", "allow_negative", "debits_posted", "credits_posted", "debits_pending",
            "credits_pending", "earned", "created_at"])
        await conn.copy_records_to_table("points_transfer", records=transfers, columns=[
            "community_path", "transfer_id", "kind", "debit_account_id", "credit_account_id", "debit_account",
            "credit_account", "amount", "reason", "source", "related_transfer_id", "fingerprint",
            "debit_balance_after", "credit_balance_after", "created_at"])
        await conn.copy_records_to_table("points_volunteer", records=people, columns=[
            "community_path", "volunteer_id", "display_name", "person_id", "family_id", "fingerprint", "created_at"])
        await conn.execute("SELECT setval(pg_get_serial_sequence('points_account', 'id'), max(id)) FROM points_account")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - start


class CpuMeter:
    """CPU seconds (user + system) of this process — client and service share it — and of the
    PostgreSQL server's processes: figures load disturbs less than calls per second. (The
    nats-server's are not counted.)"""

    def __init__(self, pg_data: Path, dsn: str) -> None:
        self.dsn = dsn
        self.me = psutil.Process()
        pid = int((pg_data / "postmaster.pid").read_text().split()[0])
        self.postmaster = psutil.Process(pid)

    def now(self) -> tuple[float, float]:
        """(this process's CPU seconds, PostgreSQL's)."""
        server = (self.postmaster, *self.postmaster.children(recursive=True))
        return self._cpu(self.me), sum(self._cpu(p) for p in server)

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:  # a backend gone between the listing and the reading
            return 0.0
        return float(times.user + times.system)

    async def drained(self) -> None:
        """Wait until the outbox relay has published every event written so far: its work is
        part of each measurement's CPU, and none of it spills into the next measurement."""
        await wait_until(self.all_sent, timeout=600, what="the outbox relay published every event", interval=0.1)

    async def all_sent(self) -> bool:
        conn = await asyncpg.connect(self.dsn)
        try:
            return not await conn.fetchval("SELECT EXISTS (SELECT FROM linli_outbox WHERE sent_at IS NULL)")
        finally:
            await conn.close()


async def measured(results: dict[str, float], name: str, meter: CpuMeter, operations: int,
                   work: Callable[[], Awaitable[float]]) -> None:
    """`work()`'s rate as `name`, and the CPU it cost per operation (µs, all processes), the
    relay's publishing of the events it wrote included."""
    await meter.drained()
    python_before, postgres_before = meter.now()
    results[name] = await work()
    await meter.drained()
    python_after, postgres_after = meter.now()
    results[f"{name}_pg_cpu_us"] = (postgres_after - postgres_before) / operations * 1e6
    results[f"{name}_cpu_us"] = results[f"{name}_pg_cpu_us"] + (python_after - python_before) / operations * 1e6


async def one_run(args: argparse.Namespace, run: int, port: int, md: tuple[tuple[str, str], ...],
                  meter: CpuMeter, ledger_store: Ledger) -> dict[str, float]:
    """One measurement of each path, next to the echo measured just before it (ids of this run)."""
    results: dict[str, float] = {}
    await measured(results, "echo_calls_per_s", meter, args.calls, lambda: bench_echo(args.calls, args.concurrency))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        ledger = ledger_pb2_grpc.LedgerServiceStub(channel)

        def credit(i: int) -> Awaitable[object]:
            return ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                community_path=COMMUNITY, transfer_id=f"t{run}.{i}", debit_account="system/issuance",
                credit_account=f"volunteers/v{i % args.accounts}", amount=1000, reason="bench"),
                metadata=md)

        if "single" in args.only:
            await measured(results, "transfers_per_s", meter, args.calls,
                           lambda: rate(args.calls, args.concurrency, credit))
            results["ledger_vs_echo"] = results["transfers_per_s"] / results["echo_calls_per_s"]

        async def hold_and_post(i: int) -> None:
            await ledger.PlaceHold(ledger_pb2.PlaceHoldRequest(
                community_path=COMMUNITY, hold_id=f"h{run}.{i}", debit_account=f"volunteers/v{i % args.accounts}",
                credit_account="system/redemption-clearing", amount=1, timeout_seconds=300), metadata=md)
            await ledger.PostHold(ledger_pb2.PostHoldRequest(community_path=COMMUNITY, hold_id=f"h{run}.{i}"),
                                  metadata=md)

        if "holds" in args.only:
            await measured(results, "hold_post_pairs_per_s", meter, args.calls,
                           lambda: rate(args.calls, args.concurrency, hold_and_post))

        if "batch" in args.only:
            # CreateTransfers: `--batch` transfers per call, 2 calls in flight. The requests
            # are built before the clock starts: the client shares this process's CPU.
            calls = max(args.batch_transfers // args.batch, 2)
            requests = [ledger_pb2.CreateTransfersRequest(
                community_path=COMMUNITY, transfers=[ledger_pb2.CreateTransferRequest(
                    transfer_id=f"b{run}.{i}.{j}", debit_account="system/issuance",
                    credit_account=f"volunteers/v{(i * args.batch + j) % args.accounts}", amount=10,
                    reason="bench") for j in range(args.batch)]) for i in range(calls)]

            async def batch(i: int) -> None:
                reply = await ledger.CreateTransfers(requests[i], metadata=md, timeout=600)
                assert all(r.created for r in reply.results), "every transfer of the bench is new"

            async def batches() -> float:
                return await rate(calls, 2, batch) * args.batch

            locked_before = ledger_store.batch_lock_seconds
            await measured(results, "batched_transfers_per_s", meter, calls * args.batch, batches)
            # Wall time inside the ledger's lock of one batch at a time, per transfer: what bounds
            # the rate with two calls in flight, disturbed by load less than the rate itself.
            results["batched_lock_us"] = (ledger_store.batch_lock_seconds - locked_before) / (calls * args.batch) * 1e6
            results["batched_vs_echo"] = results["batched_transfers_per_s"] / results["echo_calls_per_s"]
    return results


async def main(args: argparse.Namespace) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Every run's figures, and the year-end close's (measured once, after the runs)."""
    runs: list[dict[str, float]] = []
    close: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        if args.pg_statements:  # pg_stat_statements is loaded at start: set it, then start again
            pg._admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';")
            pg.stop()
            pg = EmbeddedPostgres(Path(tmp) / "pg")
        nats = NatsServer(Path(tmp) / "nats").start()
        try:
            url = pg.database_url("points_bench")
            clock = ManualClock(datetime(args.year + 1, 1, 2, tzinfo=UTC))
            # A pooled connection per call in flight (plus the relay's and sweeper's), or the
            # overflow connections are opened and closed per burst.
            app = create_app(PointsSettings(port=free_port(), database_url=url, nats_url=nats.url,
                                            log_json=False, log_level="WARNING",
                                            database_pool_size=args.concurrency + 4), clock)
            issuer = TestIssuer()  # identity's token code in memory; the app verifies its keys
            issuer.trust(app)
            await app.start()
            settle_memory()  # as a service's own process does (ServiceApp.main)
            md = issuer.bearer("bench", role="service", kind="service")
            dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
            meter = CpuMeter(Path(tmp) / "pg", dsn)
            if args.pg_statements:  # the view shows every database's statements
                pg._admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
            try:
                for run in range(args.runs):
                    runs.append(await one_run(args, run, app.port, md, meter, app.ledger))
                if args.pg_statements:
                    print(pg._server.psql(
                        "SELECT s.calls, s.rows, round(s.total_exec_time::numeric, 0) AS total_ms, "
                        "round((s.total_exec_time * 1000 / greatest(s.rows, 1))::numeric, 1) AS us_per_row, "
                        "s.wal_records, s.wal_fpi, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 100) AS query "
                        f"FROM pg_stat_statements s ORDER BY s.total_exec_time DESC LIMIT {args.pg_statements};"))
                if "close" in args.only:
                    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                        close["close_bulk_load_s"] = await bulk_load(dsn, args.close_volunteers, args.communities,
                                                                     args.year)
                        awards = awards_pb2_grpc.AwardServiceStub(channel)
                        start = time.perf_counter()
                        for c in range(args.communities):
                            await awards.CloseYear(awards_pb2.CloseYearRequest(
                                community_path=f"chengdu/bench/close{c:05d}", year=args.year), metadata=md,
                                timeout=600)
                        close["close_year_s"] = time.perf_counter() - start
                        close["close_volunteers"] = args.close_volunteers
                        close["close_communities"] = args.communities
            finally:
                await app.stop(grace=1)
        finally:
            nats.stop()
            pg.stop()
    return runs, close


# (figure, label, unit, format) in the order printed.
FIGURES = (
    ("echo_calls_per_s", "bare gRPC echo", "calls/s", "{:.0f}"),
    ("echo_calls_per_s_cpu_us", "  CPU per echo (this process)", "µs", "{:.0f}"),
    ("transfers_per_s", "CreateTransfer (single)", "/s", "{:.0f}"),
    ("ledger_vs_echo", "  single / echo", "", "{:.2f}"),
    ("transfers_per_s_cpu_us", "  CPU per transfer", "µs", "{:.0f}"),
    ("transfers_per_s_pg_cpu_us", "    of which PostgreSQL", "µs", "{:.0f}"),
    ("hold_post_pairs_per_s", "PlaceHold + PostHold", "pairs/s", "{:.0f}"),
    ("hold_post_pairs_per_s_cpu_us", "  CPU per pair", "µs", "{:.0f}"),
    ("hold_post_pairs_per_s_pg_cpu_us", "    of which PostgreSQL", "µs", "{:.0f}"),
    ("batched_transfers_per_s", "CreateTransfers", "transfers/s", "{:.0f}"),
    ("batched_vs_echo", "  batched / echo", "", "{:.1f}"),
    ("batched_transfers_per_s_cpu_us", "  CPU per transfer", "µs", "{:.1f}"),
    ("batched_transfers_per_s_pg_cpu_us", "    of which PostgreSQL", "µs", "{:.1f}"),
    ("batched_lock_us", "  wall time in the batch lock per transfer", "µs", "{:.1f}"),
)


def report(runs: list[dict[str, float]], close: dict[str, float], options: argparse.Namespace) -> None:
    columns = ["figure", *(f"run {i + 1}" for i in range(len(runs))), "median", "unit"]
    rows = []
    for key, label, unit, fmt in FIGURES:
        if key in runs[0]:
            values = [r[key] for r in runs]
            rows.append([label, *(fmt.format(v) for v in values), fmt.format(median(values)), unit])
    print_table(f"bench.points_ledger: {len(runs)} runs, {options.calls} single calls at {options.concurrency} "
                f"in flight, CreateTransfers of {options.batch} (CPU: this process + PostgreSQL; "
                f"load {os.getloadavg()[0]:.1f})", columns, rows)
    if close:
        print(f"year-end close        {close['close_year_s']:10.1f} s for {close['close_volunteers']:.0f} volunteers "
              f"in {close['close_communities']:.0f} communities (bulk load {close['close_bulk_load_s']:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=10_000, help="transfers per CreateTransfers call")
    parser.add_argument("--batch-transfers", type=int, default=20_000,
                        help="transfers in all through CreateTransfers per run (at least 2 calls)")
    parser.add_argument("--only", default="single,holds,batch,close",
                        help="what to measure besides the echo, comma-separated: single,holds,batch,close")
    parser.add_argument("--accounts", type=int, default=200, help="volunteer accounts the transfers spread over")
    parser.add_argument("--close-volunteers", type=int, default=10_000)
    parser.add_argument("--communities", type=int, default=10)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3, help="measurements of each path (medians printed)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="print the N PostgreSQL statements that took the most time (pg_stat_statements: wall "
                             "time, waiting for a CPU included)")
    options = parser.parse_args()
    options.only = set(options.only.split(","))
    all_runs, close_figures = asyncio.run(main(options))
    if options.json:
        medians = {key: median([r[key] for r in all_runs]) for key in all_runs[0]} if all_runs else {}
        print(json.dumps({"runs": all_runs, "medians": medians, **close_figures}))
    else:
        report(all_runs, close_figures, options)
