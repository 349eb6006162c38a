"""Benchmark: POS Redeem calls/s and latency at N concurrent terminals, next to a bare gRPC echo
measured in the same run (same process, same machine).

    .venv/bin/python -m bench.pos_redeem                   # PostgreSQL, 32 terminals, 10 s each, 3 runs
    .venv/bin/python -m bench.pos_redeem --runs 1 --seconds 5   # one quick run
    .venv/bin/python -m bench.pos_redeem --profile         # … and where the services' time goes (py-spy)
    .venv/bin/python -m bench.pos_redeem --sqlite --terminals 8 --seconds 5

Everything runs on loopback: nats-server, PostgreSQL, volunteer-points (the ledger) and
partner-redemption as child processes (as deployed), the clients and the echo in this one.
The load is spread as a city's would be: the terminals belong to the demo community's 8
merchants in turn, each till serves its own volunteer, and calls alternate between a reward
with unlimited stock and one with (large) counted stock, whose row every redeem of it updates.
All volunteers are in one community, so the community's system accounts are as hot as they get.

A redeem is a local transaction (its replay and member session read, the checks, the stock
and the row) + PlaceHold over gRPC (a ledger transaction, grouped with the concurrent ones) +
the commit with its outbox row (one statement); the hold is posted afterwards by
volunteer-points from the `redemption.redemption.committed` event, a fetched batch per
transaction (issue 18: one synchronous hop). The echo is one round trip. The CPU window stays
open after the load until every hold is posted (the time that takes is printed), so the
posting is counted. "Where the time goes" reports the CPU each process used per redeem during
the run (the machine's other load is shown: these machines have 2 shared, noisy cores — quote
medians and ratios, not absolute numbers) and, with
--profile, the share of each service's samples spent in each stage (py-spy: the stage is the
batch a sample works for — reserve, PlaceHolds, commit — since the group commit runs a
redeem's work in batch tasks, not under its call). On PostgreSQL it also counts what each
service's database ran per redeem (pg_stat_statements, loaded for the run; `--statements 0`
turns it off): statements (each a round trip, BEGIN and COMMIT included), transactions,
execution time, connections opened, and the top statements with their batch sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from linli_identity.testing import TestIssuer, serve_test_issuer

from bench.stats import percentile, print_table
from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli.points.v1 import ledger_pb2, ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_runtime.clients import make_channel
from linli_runtime.platform import wait_serving
from linli_runtime.processes import EmbeddedPostgres, NatsServer, free_port
from linli_runtime.testing.echo import BareEchoServicer
from linli_runtime.testing.waiting import wait_until

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
# The services' own default (LINLI_DATABASE_POOL_SIZE): their batched paths need few connections,
# and the pool hands out the last returned first, so these few keep their prepared statements.
POOL_SIZE = 10


async def run_load(calls: list, seconds: float,  # type: ignore[type-arg]
                   start: int = 0) -> tuple[int, list[float], int]:
    """Each of `calls` (one per client) is awaited in a loop for `seconds`, with call numbers
    from `start` (a redeem's request id is made of it: the warm-up's must not be replayed)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(call) -> None:  # type: ignore[no-untyped-def]
        nonlocal errors
        i = start
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(i)
                latencies.append(time.perf_counter() - started)
            except grpc.aio.AioRpcError:
                errors += 1
            i += 1

    await asyncio.gather(*(worker(c) for c in calls))
    return len(latencies), latencies, errors


async def bench_echo(clients: int, seconds: float) -> tuple[float, list[float]]:
    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(BareEchoServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)

        async def call(i: int) -> None:
            await stub.Echo(echo_pb2.EchoRequest(message="hello"))

        t0 = time.perf_counter()
        n, lat, _ = await run_load([call] * clients, seconds)
        rate = n / (time.perf_counter() - t0)
    await server.stop(0)
    return rate, lat


def start_service(module: str, env: dict[str, str], log: Path,
                  pool: int = POOL_SIZE) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {**os.environ, **env, "PORT": str(port), "LINLI_LOG_LEVEL": "WARNING",
            "LINLI_DATABASE_POOL_SIZE": str(pool)}
    proc = subprocess.Popen([sys.executable, "-m", module], env=full, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    if not wait_serving(address, 120, proc):
        proc.kill()
        raise RuntimeError(f"{module} did not start; see {log}")
    return proc, address


def stop_processes(procs: Sequence[subprocess.Popen[Any]], grace: float = 30) -> None:
    """Stop the services a bench started: all asked at once (SIGTERM), so that their graceful
    stops run side by side, then each waited for — killed past `grace` seconds."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- where the time goes ----------------------------------------------------------------------

@dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes between `start` and `stop` (a process
    that exits in between loses its share; the services' and PostgreSQL's backends do not)."""

    groups: dict[str, Callable[[], list[psutil.Process]]]
    before: dict[tuple[str, int], float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        try:
            t = proc.cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    def _snapshot(self) -> dict[tuple[str, int], float]:
        return {(name, p.pid): self._cpu(p) for name, procs in self.groups.items() for p in procs()}

    def start(self) -> None:
        self.before = self._snapshot()
        self._machine0 = psutil.cpu_times()

    def stop(self) -> None:
        after = self._snapshot()
        self.used = collections.defaultdict(float)
        for (name, pid), cpu in after.items():
            if cpu:  # 0.0: gone meanwhile (its share is lost)
                self.used[name] += cpu - self.before.get((name, pid), 0.0)
        m1 = psutil.cpu_times()
        busy = [getattr(m1, f) - getattr(self._machine0, f) for f in ("user", "system", "nice", "irq", "softirq")]
        self.machine = sum(busy)


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The postmaster serving `data_dir` and its children (backends, writer, WAL writer, …)."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "postgres" in (proc.info["name"] or "") and str(data_dir) in " ".join(proc.info["cmdline"] or []):
                return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
    return []


# Stages of a redeem as they show in each service's stacks: the first marker found in a sample's
# frames names its stage (in this order). Since the group commit (issue 18) a redeem's work runs
# in the batch tasks (`GroupCommit._flush`), not under the call's own frames: each batch is a stage.
STAGES = {
    "partner-redemption": [
        ("terminal authentication", "TerminalAuthenticator.authenticate"),
        ("reserve: replays, sessions, limits, stock, rows (batch tx)", "SqlRedemptionStore.reserve_asked"),
        ("commit + outbox rows (batch tx)", "SqlRedemptionStore.commit_batch"),
        ("PlaceHolds call to volunteer-points (gRPC client)", "PointsClient._place_holds"),
        ("outbox relay → NATS", "OutboxRelay"),
        ("NATS client (publish, acks)", "nats/aio/"),
        ("gRPC client (calls' completion)", "grpc/aio/_call.py"),
        ("saga + servicer (Python around the batches)", "Redemptions."),
        ("runtime around the call (request id, auth, metrics, log)", "linli_runtime/interceptors.py"),
        ("group commit queue", "linli_runtime/group_commit.py"),
    ],
    "volunteer-points": [
        ("PlaceHolds (ledger batch tx)", "Ledger._run_queued"),
        ("posts from redemption.committed (consumer batch)", "EventConsumer"),
        ("outbox relay → NATS", "OutboxRelay"),
        ("NATS client (publish, acks, fetch)", "nats/aio/"),
        ("hold sweeper", "expire_due_holds"),
        ("servicer (Python around the batch)", "linli_points/api/"),
        ("runtime around the call (request id, auth, metrics, log)", "linli_runtime/interceptors.py"),
        ("group commit queue", "linli_runtime/group_commit.py"),
    ],
}
# Where a sample's innermost frame is one of these, its time is the kernel's (a syscall).
SOCKET_LEAVES = ("_SelectorSocketTransport.write", "_read_ready", "sock_sendall", "sock_recv", "writelines")
# Stacks py-spy shows on their own: SQLAlchemy's synchronous side runs in greenlets, whose
# stacks are not joined to the task that awaits them (their stage is unknown).
GREENLET_ROOTS = ("Connection.execute (sqlalchemy", "Connection.exec_driver_sql", "greenlet")


class Profiler:
    """py-spy sampling a service for the measured window; summarised by `STAGES`."""

    def __init__(self, name: str, pid: int, seconds: float, out: Path) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.name, self.out = name, out
        self.proc = subprocess.Popen(
            [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "-f", "raw", "-o", str(out),
             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def classify(self, frames: list[str]) -> str:
        """A sample's stage: what it works for (`STAGES`), else where the event loop is."""
        stack = ";".join(frames)
        if not frames or not frames[-1]:
            return "no Python frame (native: gRPC core, GC)"
        if "Thread._bootstrap" in frames[0]:
            return "helper threads"
        if "ServiceApp.main" not in stack:
            return "SQLAlchemy + asyncpg in greenlets (build, compile, execute; any stage)"
        stage = next((stage for stage, marker in STAGES[self.name] if marker in stack), None)
        if stage is not None:
            return stage
        if "EpollSelector.select" in frames[-1]:
            return "event loop: epoll (waiting for sockets)"
        if frames[-1].startswith("Handle._run"):
            return "gRPC core (Cython callbacks, no Python frame below)"
        return "event loop, other"

    def summary(self) -> list[list[str]]:
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if not self.out.exists():
            return [[self.name, "(py-spy produced nothing: is ptrace allowed?)", "", ""]]
        counts: collections.Counter[str] = collections.Counter()
        syscalls: collections.Counter[str] = collections.Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";") if stack else []
            stage = self.classify(frames)
            counts[stage] += int(n)
            if frames and any(leaf in frames[-1] for leaf in SOCKET_LEAVES):
                syscalls[stage] += int(n)
            total += int(n)
        return [[self.name, stage, f"{100 * n / max(total, 1):.0f} %",
                 f"{100 * syscalls[stage] / max(total, 1):.0f} %" if syscalls[stage] else ""]
                for stage, n in counts.most_common()]


# -- PostgreSQL statements per redeem (pg_stat_statements) ---------------------------------------

# Every database's statements, BEGIN and COMMIT included (track_utility): each is a round trip of
# its own from asyncpg, but for an executemany (one round trip, a call per row) and the prepares
# (not statements; asyncpg's cache keeps them, so few after the warm-up).
_STATEMENTS = """
    SELECT d.datname AS db, s.query, s.calls, s.rows, s.total_exec_time AS ms
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname IN ('points', 'redemption')
"""


@dataclass
class Statement:
    db: str
    query: str
    calls: int
    rows: int
    ms: float


# Connections (server backends) each database has had: a pool that opens and closes overflow
# connections pays a backend's start, the dialect's set-up and every statement's prepare again.
_SESSIONS = "SELECT datname AS db, sessions FROM pg_stat_database WHERE datname IN ('points', 'redemption')"


async def pg_reset(pg: EmbeddedPostgres) -> dict[str, int]:
    """Start counting the services' statements afresh; the connections each database had so far."""
    import asyncpg

    conn = await asyncpg.connect(pg.socket_uri)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        return {r["db"]: int(r["sessions"]) for r in await conn.fetch(_SESSIONS)}
    finally:
        await conn.close()


async def pg_statements(pg: EmbeddedPostgres, sessions: dict[str, int]) -> list[Statement]:
    """The services' statements since `pg_reset` (which answered `sessions`), with a
    pseudo-statement `CONNECTIONS` per database whose calls are the backends started meanwhile."""
    import asyncpg

    conn = await asyncpg.connect(pg.socket_uri)
    try:
        opened = [Statement(r["db"], CONNECTIONS, int(r["sessions"]) - sessions.get(r["db"], 0), 0, 0.0)
                  for r in await conn.fetch(_SESSIONS)]
        return opened + [Statement(r["db"], " ".join(r["query"].split()), r["calls"], r["rows"], r["ms"])
                         for r in await conn.fetch(_STATEMENTS)]
    finally:
        await conn.close()


CONNECTIONS = "(connections opened)"


def statement_rows(statements: list[Statement], redeems: int, top: int) -> tuple[list[list[str]], list[list[str]]]:
    """Per service: statements, transactions and execution time per redeem; and the top
    statements by execution time, each with its calls per redeem and rows per call (a batch
    statement's rows per call is its batch size)."""
    per = max(redeems, 1)
    totals = []
    for db in ("redemption", "points"):
        mine = [s for s in statements if s.db == db and s.query != CONNECTIONS]
        begins = sum(s.calls for s in mine if s.query.upper().startswith("BEGIN"))
        opened = sum(s.calls for s in statements if s.db == db and s.query == CONNECTIONS)
        totals.append([db, f"{sum(s.calls for s in mine) / per:.2f}", f"{begins / per:.2f}",
                       f"{1000 * sum(s.ms for s in mine) / per:.0f}", f"{opened / per:.3f}"])
    ranked = sorted((s for s in statements if s.query != CONNECTIONS), key=lambda s: -s.ms)[:top]
    tops = [[s.db, f"{s.calls / per:.3f}", f"{s.rows / max(s.calls, 1):.1f}", f"{1000 * s.ms / per:.0f}",
             s.query[:90]] for s in ranked]
    return totals, tops


# -- the load ----------------------------------------------------------------------------------

@dataclass
class RedeemResult:
    rate: float
    latencies: list[float]
    errors: int
    cpu: CpuMeter
    profiles: list[list[str]]
    drain: float  # seconds after the load until every committed redemption's hold was posted
    statements: list[Statement] = field(default_factory=list)  # PostgreSQL's, during the CPU window


async def bench_redeem(args: argparse.Namespace, tmp: Path, issuer: TestIssuer) -> RedeemResult:
    """volunteer-points and partner-redemption each in a process of their own (as deployed), both
    trusting a test issuer (identity's token code, served on loopback); partner-redemption gets
    its token there with its own client credentials, as from identity."""
    nats = NatsServer(tmp / "nats").start()
    pg = None if args.sqlite else EmbeddedPostgres(tmp / "pg" / "data")
    if pg is not None and args.statements:
        # pg_stat_statements is loaded at start: set it, then start the server again.
        pg._admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';")
        pg.stop()
        pg = EmbeddedPostgres(tmp / "pg" / "data")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        def url(name: str) -> str:
            return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{tmp / (name + '.db')}"

        # Demo data: volunteer-points then knows Fengshu (its demo learns the demo's org tree), as
        # it would from trust-governance's events.
        points, points_addr = start_service("linli_points.app", {
            "DATABASE_URL": url("points"), "NATS_URL": nats.url, "LINLI_DEMO_DATA": "true",
            **issuer.env_for("volunteer-points", tmp / "clients")}, tmp / "points.log", args.pool)
        procs.append(points)
        app, app_addr = start_service("linli_redemption.app", {
            "DATABASE_URL": url("redemption"), "NATS_URL": nats.url, "LINLI_DEMO_DATA": "true",
            "VOLUNTEER_POINTS_SERVICE_ADDR": points_addr,
            # The load is far past the POS abuse limits a real till ever reaches (pos_limits).
            "LINLI_POS_RESOLVES_PER_TERMINAL_PER_MINUTE": "1000000",
            "LINLI_POS_REDEEMS_PER_TERMINAL_PER_MINUTE": "1000000",
            "LINLI_POS_REDEEMS_PER_MEMBER_PER_HOUR": "1000000",
            **issuer.env_for("partner-redemption", tmp / "clients")},
            tmp / "redemption.log", args.pool)
        procs.append(app)
        service = issuer.bearer("bench", role="service", kind="service")
        worker = issuer.bearer("bench", role="community_worker", scope=FENGSHU)
        async with make_channel(app_addr, default_timeout=30) as ch, \
                make_channel(points_addr, default_timeout=30) as pch:
            pos = pos_pb2_grpc.PosServiceStub(ch)
            partners = admin_pb2_grpc.PartnerServiceStub(ch)
            cards = admin_pb2_grpc.MemberCardServiceStub(ch)
            catalog = admin_pb2_grpc.CatalogServiceStub(ch)
            ledger = ledger_pb2_grpc.LedgerServiceStub(pch)
            volunteers = volunteers_pb2_grpc.VolunteerServiceStub(pch)
            merchants = [p.partner_id for p in (await partners.ListPartners(admin_pb2.ListPartnersRequest(
                community_path=FENGSHU, kind=resources_pb2.PARTNER_KIND_MERCHANT, page_size=100),
                metadata=worker)).partners]
            for merchant in merchants:  # one reward without a stock count, one with
                for reward_id, stock in (("bench-open", -1), ("bench-counted", 100_000_000)):
                    await catalog.CreateReward(admin_pb2.CreateRewardRequest(
                        parent=f"merchants/{merchant}", reward_id=reward_id, reward=resources_pb2.Reward(
                            display_name=reward_id, points=1, stock=stock)), metadata=worker)
            calls = []
            vids: list[str] = []
            for t in range(args.terminals):
                merchant = merchants[t % len(merchants)]
                term = await partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
                    parent=f"merchants/{merchant}", terminal_id=f"bench-{t}"), metadata=worker)
                md = (("authorization", term.authorization),)
                vid = f"bench-v{t}"
                vids.append(vid)
                await volunteers.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(
                    volunteer=volunteers_pb2.Volunteer(community_path=FENGSHU, volunteer_id=vid,
                                                       display_name="张三丰")), metadata=service)
                await ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                    community_path=FENGSHU, transfer_id=f"fund-{vid}", debit_account="system/issuance",
                    credit_account=f"volunteers/{vid}", amount=10_000_000, reason="governance"), metadata=service)
                code = (await cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
                    community_path=FENGSHU, volunteer_id=vid), metadata=worker)).member_code
                session = (await pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=code),
                                                       metadata=md)).member_session
                run = uuid.uuid4().hex[:6]
                rewards = [f"merchants/{merchant}/rewards/bench-open", f"merchants/{merchant}/rewards/bench-counted"]

                def make_call(md=md, session=session, t=t, run=run, rewards=rewards):  # type: ignore[no-untyped-def]
                    async def call(i: int) -> None:
                        await pos.Redeem(pos_pb2.RedeemRequest(
                            reward=rewards[(i + t) % 2], member_session=session, quantity=1,
                            request_id=f"{run}-{t}-{i}"), metadata=md)
                    return call
                calls.append(make_call())
            await run_load(calls, 1.0, start=10**9)  # warm-up (its own request ids)
            def just(pid: int) -> Callable[[], list[psutil.Process]]:
                proc = psutil.Process(pid)
                return lambda: [proc]

            groups = {"bench clients (this process)": just(os.getpid()), "partner-redemption": just(app.pid),
                      "volunteer-points": just(points.pid),
                      "PostgreSQL": (lambda: postgres_processes(tmp / "pg" / "data")) if pg else list,
                      "nats-server": just(nats.proc.pid) if nats.proc else list}
            meter = CpuMeter(groups)
            out = Path(tempfile.mkdtemp(prefix="linli-bench-profile-")) if args.profile else tmp
            profilers = [Profiler("partner-redemption", app.pid, args.seconds, out / "partner-redemption.spy"),
                         Profiler("volunteer-points", points.pid, args.seconds, out / "volunteer-points.spy")
                         ] if args.profile else []
            sessions = await pg_reset(pg) if pg is not None and args.statements else {}
            meter.start()
            t0 = time.perf_counter()
            n, lat, errors = await run_load(calls, args.seconds)
            elapsed = time.perf_counter() - t0

            async def none_held() -> bool:
                balances = await asyncio.gather(*(ledger.GetBalance(ledger_pb2.GetBalanceRequest(
                    community_path=FENGSHU, account=f"volunteers/{vid}"), metadata=service) for vid in vids))
                return not any(b.held for b in balances)

            # The posts, from the events (polled: the bench sees the ledger only through its API).
            await wait_until(none_held, timeout=60, interval=0.05, what="every hold posted")
            drain = time.perf_counter() - t0 - elapsed
            meter.stop()
            statements = await pg_statements(pg, sessions) if pg is not None and args.statements else []
            profiles = [row for p in profilers for row in p.summary()]
            if profilers:
                print(f"py-spy samples (collapsed stacks) kept in {out}")
            return RedeemResult(n / elapsed, lat, errors, meter, profiles, drain, statements)
    finally:
        stop_processes(procs)
        nats.stop()
        if pg:
            pg.stop()


@dataclass
class Run:
    """One run's figures: the redeem and, right after it, the echo."""

    result: RedeemResult
    echo_rate: float
    echo_lat: list[float]
    load: float = 0.0  # the 1-minute load average when the run ended

    @property
    def ratio(self) -> float:
        return self.result.rate / self.echo_rate

    def cpu_ms(self, name: str | None = None) -> float:
        """CPU ms per redeem of one process group (None: all of them)."""
        used = self.result.cpu.used
        cpu = sum(used.values()) if name is None else used.get(name, 0.0)
        return 1000 * cpu / max(len(self.result.latencies), 1)


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


async def one_run(args: argparse.Namespace) -> Run:
    with tempfile.TemporaryDirectory(prefix="linli-bench-pos-") as tmp, serve_test_issuer() as issuer:
        result = await bench_redeem(args, Path(tmp), issuer)
    echo_rate, echo_lat = await bench_echo(args.terminals, args.seconds)
    return Run(result, echo_rate, echo_lat)


def report_run(args: argparse.Namespace, run: Run) -> None:
    """The last run in full: its table, where its CPU went, its profile."""
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    result, redeem_lat = run.result, run.result.latencies
    print_table(f"POS Redeem vs bare gRPC echo — {args.terminals} concurrent clients, {args.seconds:.0f} s, {engine}",
                ["path", "calls/s", "p50 ms", "p99 ms", "errors"],
                [["POS Redeem (hold + commit + outbox)", f"{result.rate:.0f}", f"{ms(redeem_lat, 50):.1f}",
                  f"{ms(redeem_lat, 99):.1f}", str(result.errors)],
                 ["bare gRPC echo", f"{run.echo_rate:.0f}", f"{ms(run.echo_lat, 50):.1f}",
                  f"{ms(run.echo_lat, 99):.1f}", "0"],
                 ["ratio redeem/echo", f"{run.ratio:.3f}", "", "", ""]])
    used = result.cpu.used
    ours = sum(used.values())
    rows = [[name, f"{run.cpu_ms(name):.2f}", f"{100 * cpu / max(result.cpu.machine, 1e-9):.0f} %"]
            for name, cpu in sorted(used.items(), key=lambda kv: -kv[1])]
    rows.append(["all of the above", f"{run.cpu_ms():.2f}", f"{100 * ours / max(result.cpu.machine, 1e-9):.0f} %"])
    rows.append(["other load on this machine", "",
                 f"{100 * max(result.cpu.machine - ours, 0) / max(result.cpu.machine, 1e-9):.0f} %"])
    print(f"every hold posted {result.drain:.2f} s after the load ended (load average "
          f"{os.getloadavg()[0]:.1f})")
    print_table(f"Where the time goes: CPU per redeem ({psutil.cpu_count()} cores, "
                f"{result.cpu.machine / args.seconds:.2f} of them busy on average)",
                ["process", "CPU ms / redeem", "share of busy CPU"], rows)
    if result.statements:
        totals, tops = statement_rows(result.statements, len(redeem_lat), args.statements)
        print_table("PostgreSQL statements per redeem, per service's database (pg_stat_statements; BEGIN and "
                    "COMMIT count: each statement is a round trip)",
                    ["database", "statements / redeem", "transactions / redeem", "exec µs / redeem",
                     "connections opened / redeem"], totals)
        # Plain text: the statements are wider than a table's cell.
        print("PostgreSQL's top statements by execution time (rows / call: a batch statement's batch size)")
        header = ["db", "calls/redeem", "rows/call", "exec µs/redeem", "statement"]
        widths = [max(len(r[k]) for r in [header, *tops]) for k in range(4)]
        for row in [header, *tops]:
            print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=False)), row[4])
    if result.profiles:
        print_table("Where each service's CPU goes (py-spy on-CPU samples by the stage they work for; SQLAlchemy's "
                    "synchronous side shows apart, in greenlets)",
                    ["service", "stage", "share", "of it in socket syscalls"], result.profiles)


def report_runs(args: argparse.Namespace, runs: list[Run]) -> None:
    """Every run's figures next to its own echo, and the median of each figure and of the ratio
    (the acceptance: >= 0.25 x echo, p99 < 50 ms, <= 2 ms CPU per redeem)."""
    groups = sorted({name for run in runs for name in run.result.cpu.used}, key=lambda n: -runs[-1].cpu_ms(n))
    short = {"volunteer-points": "points", "partner-redemption": "redemption", "PostgreSQL": "pg",
             "bench clients (this process)": "bench", "nats-server": "nats"}
    header = ["run", "redeem/s", "echo/s", "ratio", "p50", "p99", "CPU", *(short.get(n, n) for n in groups),
              "stmts r/p", "load"]

    def statements(run: Run) -> str:
        """PostgreSQL statements per redeem of partner-redemption / volunteer-points."""
        if not run.result.statements:
            return "-"
        totals, _ = statement_rows(run.result.statements, len(run.result.latencies), 0)
        return "/".join(f"{float(t[1]):.1f}" for t in totals)

    def figures(run: Run) -> list[float]:
        lat = run.result.latencies
        return [run.result.rate, run.echo_rate, run.ratio, ms(lat, 50), ms(lat, 99), run.cpu_ms(),
                *(run.cpu_ms(n) for n in groups)]

    def cell(k: int, v: float) -> str:
        return f"{v:.3f}" if k == 2 else f"{v:.2f}" if k >= 5 else f"{v:.1f}"

    rows = [[str(i + 1), *(cell(k, v) for k, v in enumerate(figures(run))), statements(run), f"{run.load:.1f}"]
            for i, run in enumerate(runs)]
    columns = list(zip(*(figures(run) for run in runs), strict=True))
    rows.append(["median", *(cell(k, statistics.median(c)) for k, c in enumerate(columns)), "",
                 f"{statistics.median(run.load for run in runs):.1f}"])
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    # Plain text: the table is wider than a terminal's 80 columns, and it is the figure quoted.
    print(f"POS Redeem, {engine}, {args.terminals} terminals, {len(runs)} runs of {args.seconds:.0f} s; p50/p99 in ms; "
          "CPU: ms per redeem of all processes, then of each (targets: ratio >= 0.25, p99 < 50 ms, CPU <= 2 ms)")
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))


async def main_async(args: argparse.Namespace) -> None:
    runs: list[Run] = []
    for _ in range(args.runs):
        run = await one_run(args)
        run.load = os.getloadavg()[0]
        runs.append(run)
    report_run(args, runs[-1])
    report_runs(args, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3, help="measurements (redeem + echo each); medians reported")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="sample both services with py-spy during the run")
    parser.add_argument("--pool", type=int, default=POOL_SIZE, help="each service's database pool size")
    parser.add_argument("--statements", type=int, default=12, metavar="N",
                        help="PostgreSQL: count the services' statements (pg_stat_statements) and list the top N "
                             "(0: off)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("LINLI_LOG_LEVEL", "WARNING")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
