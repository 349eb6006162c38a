"""Benchmark: POS Redeem calls/s and latency at N concurrent terminals, next to a bare gRPC echo
measured in the same run (same process, same machine).

    .venv/bin/python -m bench.pos_redeem                   # PostgreSQL, 32 terminals, 10 s each
    .venv/bin/python -m bench.pos_redeem --sqlite --terminals 8 --seconds 5

Everything runs in one process on loopback: nats-server and PostgreSQL as child processes,
volunteer-points (the ledger) and partner-redemption as in-process servers, and the clients.
A redeem is 3 local transactions + PlaceHold + PostHold over gRPC (each a ledger transaction),
so it is several round trips deep; the echo is one. Machines here have 2 noisy cores: quote
medians and ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
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
from linli_runtime.processes import EmbeddedPostgres, NatsServer
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


async def bench_redeem(args: argparse.Namespace, tmp: Path) -> tuple[float, list[float], int]:
    from linli_points.main import PointsSettings
    from linli_points.main import create_app as create_points
    from linli_redemption.main import RedemptionSettings, create_app

    from linli_runtime.auth import TokenSigner

    nats = NatsServer(tmp / "nats").start()
    pg = None if args.sqlite else EmbeddedPostgres(tmp / "pg" / "data")
    try:
        def url(name: str) -> str:
            return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{tmp / (name + '.db')}"

        points = create_points(PointsSettings(port=0, database_url=url("points"), nats_url=nats.url,
                                              jwt_secret=SECRET, log_json=False))
        await points.start()
        app = create_app(RedemptionSettings(port=0, database_url=url("redemption"), nats_url=nats.url,
                                            jwt_secret=SECRET, demo_data=True), points_addr=f"127.0.0.1:{points.port}")
        await app.start()
        signer = TokenSigner(SECRET)
        service = (("authorization", "Bearer " + signer.issue_service_token("bench")),)
        worker = (("authorization", "Bearer " + signer.issue("bench", role="community_worker", scope=FENGSHU)),)
        try:
            async with make_channel(f"127.0.0.1:{app.port}", default_timeout=30) as ch, \
                    make_channel(f"127.0.0.1:{points.port}", default_timeout=30) as pch:
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
                        credit_account=f"volunteers/{vid}", amount=10_000_000, reason="governance"),
                        metadata=service)
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
            await app.stop(grace=1)
            await points.stop(grace=1)
    finally:
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
