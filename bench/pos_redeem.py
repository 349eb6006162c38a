"""Benchmark: POS Redeem calls/s and latency at N concurrent terminals, next to a bare gRPC echo
measured in the same run (same process, same machine).

    .venv/bin/python -m bench.pos_redeem                   # PostgreSQL, 32 terminals, 10 s each
    .venv/bin/python -m bench.pos_redeem --sqlite --terminals 8 --seconds 5

Everything runs on loopback: nats-server, PostgreSQL, volunteer-points (the ledger) and
partner-redemption as child processes (as deployed), the clients and the echo in this one.
A redeem is 3 local transactions + PlaceHold + PostHold over gRPC (each a ledger transaction),
so it is several round trips deep; the echo is one. Machines here have 2 noisy cores: quote
medians and ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

from bench.stats import percentile, print_table
from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli.points.v1 import ledger_pb2, ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_runtime.clients import make_channel
from linli_runtime.platform import wait_serving
from linli_runtime.processes import EmbeddedPostgres, NatsServer, free_port
from linli_runtime.testing.echo import BareEchoServicer

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
MERCHANT = "jinchengyijing-health"
SECRET = "bench-signing-key-0123456789abcdef-0123"


async def run_load(calls: list, seconds: float) -> tuple[int, list[float], int]:  # type: ignore[type-arg]
    """Each of `calls` (one per client) is awaited in a loop for `seconds`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(call) -> None:  # type: ignore[no-untyped-def]
        nonlocal errors
        i = 0
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


def start_service(module: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {**os.environ, **env, "PORT": str(port), "LINLI_JWT_SECRET": SECRET, "LINLI_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", module], env=full, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    if not wait_serving(address, 120, proc):
        proc.kill()
        raise RuntimeError(f"{module} did not start; see {log}")
    return proc, address


async def bench_redeem(args: argparse.Namespace, tmp: Path) -> tuple[float, list[float], int]:
    """volunteer-points and partner-redemption each in a process of their own (as deployed)."""
    from linli_runtime.auth import TokenSigner

    nats = NatsServer(tmp / "nats").start()
    pg = None if args.sqlite else EmbeddedPostgres(tmp / "pg" / "data")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        def url(name: str) -> str:
            return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{tmp / (name + '.db')}"

        points, points_addr = start_service("linli_points.main", {
            "DATABASE_URL": url("points"), "NATS_URL": nats.url}, tmp / "points.log")
        procs.append(points)
        app, app_addr = start_service("linli_redemption.main", {
            "DATABASE_URL": url("redemption"), "NATS_URL": nats.url, "LINLI_DEMO_DATA": "true",
            "VOLUNTEER_POINTS_SERVICE_ADDR": points_addr}, tmp / "redemption.log")
        procs.append(app)
        signer = TokenSigner(SECRET)
        service = (("authorization", "Bearer " + signer.issue_service_token("bench")),)
        worker = (("authorization", "Bearer " + signer.issue("bench", role="community_worker", scope=FENGSHU)),)
        async with make_channel(app_addr, default_timeout=30) as ch, \
                make_channel(points_addr, default_timeout=30) as pch:
            pos = pos_pb2_grpc.PosServiceStub(ch)
            partners = admin_pb2_grpc.PartnerServiceStub(ch)
            cards = admin_pb2_grpc.MemberCardServiceStub(ch)
            catalog = admin_pb2_grpc.CatalogServiceStub(ch)
            ledger = ledger_pb2_grpc.LedgerServiceStub(pch)
            volunteers = volunteers_pb2_grpc.VolunteerServiceStub(pch)
            await catalog.CreateReward(admin_pb2.CreateRewardRequest(
                parent=f"merchants/{MERCHANT}", reward_id="bench", reward=resources_pb2.Reward(
                    display_name="bench", points=1, stock=-1)), metadata=worker)
            calls = []
            for t in range(args.terminals):
                term = await partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
                    parent=f"merchants/{MERCHANT}", terminal_id=f"bench-{t}"), metadata=worker)
                md = (("authorization", term.authorization),)
                vid = f"bench-v{t}"
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

                def make_call(md=md, session=session, t=t, run=run):  # type: ignore[no-untyped-def]
                    async def call(i: int) -> None:
                        await pos.Redeem(pos_pb2.RedeemRequest(
                            reward=f"merchants/{MERCHANT}/rewards/bench", member_session=session, quantity=1,
                            request_id=f"{run}-{t}-{i}"), metadata=md)
                    return call
                calls.append(make_call())
            await run_load(calls, 1.0)  # warm-up
            t0 = time.perf_counter()
            n, lat, errors = await run_load(calls, args.seconds)
            return n / (time.perf_counter() - t0), lat, errors
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        if pg:
            pg.stop()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-bench-pos-") as tmp:
        redeem_rate, redeem_lat, errors = await bench_redeem(args, Path(tmp))
    echo_rate, echo_lat = await bench_echo(args.terminals, args.seconds)
    engine = "SQLite" if args.sqlite else "PostgreSQL"

    def ms(values: list[float], p: float) -> str:
        return f"{percentile(values, p) * 1000:.1f}"

    print_table(f"POS Redeem vs bare gRPC echo — {args.terminals} concurrent clients, {args.seconds:.0f} s, {engine}",
                ["path", "calls/s", "p50 ms", "p99 ms", "errors"],
                [["POS Redeem (hold + post + commit + outbox)", f"{redeem_rate:.0f}", ms(redeem_lat, 50),
                  ms(redeem_lat, 99), str(errors)],
                 ["bare gRPC echo", f"{echo_rate:.0f}", ms(echo_lat, 50), ms(echo_lat, 99), "0"],
                 ["ratio redeem/echo", f"{redeem_rate / echo_rate:.3f}", "", "", ""]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("LINLI_LOG_LEVEL", "WARNING")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
