"""Benchmark: one unary call through the full service runtime (JWT authentication, request id,
access log, Prometheus latency, error mapping) next to a bare grpc.aio echo server, each in
its own process on this machine, same client, same run; the runtime twice, with its access log
on (the default) and off (LINLI_ACCESS_LOG=false). The client makes the same calls to each, its
bearer token included: the bare server ignores it, but carrying a JWT of several hundred bytes in
every call's headers costs each end tens of µs a call (HPACK, measured ~40 on the server, ~55 on
the client) whoever reads it — the token's price, not the stack's (the stack verifies it, from
its cache after the first call).

    .venv/bin/python -m bench.grpc_stack --runs 3 --calls 10000 --concurrency 32

Each run loads every server in turn (the bare one first: the run's baseline) and prints its
figures — calls/s, p50/p99 latency, the server process's CPU per call — with their ratios to
that run's bare server; then the median of each figure and of each ratio over the runs. On a
machine shared with other work the CPU per call is the steadier figure: calls/s also measures
what the neighbours took. The load average is printed with each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from linli_identity.testing import serve_test_issuer

from bench.pos_redeem import stop_processes
from bench.stats import median, percentile, print_table
from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.clients import make_channel
from linli_runtime.processes import NatsServer


def start(module: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", module], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"{module} did not start: {line!r}")
    return proc, int(line.split()[1])


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def load(port: int, token: str | None, calls: int, concurrency: int,
               pid: int) -> tuple[float, list[float], float]:
    """(calls/s, latencies in ms, the server's CPU µs per call)."""
    latencies: list[float] = []
    async with make_channel(f"127.0.0.1:{port}", token=token, default_timeout=10) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        request = echo_pb2.EchoRequest(message="x" * 100)
        await stub.Echo(request)  # connect and warm up
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await stub.Echo(request)
                latencies.append((time.perf_counter() - started) * 1000)

        started, cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    return calls / elapsed, latencies, cpu / calls * 1e6


Figures = dict[str, float]


def figures(rate: float, latencies: list[float], cpu_us: float, bare: Figures | None) -> Figures:
    """One server's figures in one run, with their ratios to the same run's bare server."""
    got = {"rate": rate, "p50": median(latencies), "p99": percentile(latencies, 99), "cpu": cpu_us}
    if bare is not None:
        got["x_bare"] = rate / bare["rate"]
        got["cpu_ratio"] = bare["cpu"] / cpu_us
    return got


def table_row(name: str, got: Figures) -> list[str]:
    return [name, f"{got['rate']:,.0f}", f"{got.get('x_bare', 1.0):.2f}", f"{got['p50']:.2f}", f"{got['p99']:.2f}",
            f"{got['cpu']:.0f}", f"{got.get('cpu_ratio', 1.0):.2f}"]


COLUMNS = ["server", "calls/s", "x bare", "p50 ms", "p99 ms", "server CPU µs/call", "bare CPU / CPU"]


async def main(args: argparse.Namespace) -> None:
    # The runtime verifies tokens against a test issuer's JWKS (identity's token code, served on
    # loopback), fetched once and cached as from the real issuer.
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp, serve_test_issuer() as issuer:
        nats = NatsServer(Path(tmp) / "nats").start()
        runtime_env = {"PORT": "0", "NATS_URL": nats.url, "LINLI_ISSUER_URL": issuer.url,
                       "DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'echo.db'}",
                       "LINLI_LOG_LEVEL": "INFO"}
        token = issuer.issue("bench", role="community_worker", scope="chengdu")
        servers: dict[str, tuple[subprocess.Popen[str], int, str | None]] = {}
        runs: list[dict[str, Figures]] = []
        try:
            servers["bare"] = (*start("bench.bare_echo", {}), token)  # the same calls (docstring)
            servers["runtime"] = (*start("linli_runtime.testing.echo", runtime_env), token)
            servers["runtime, no access log"] = (
                *start("linli_runtime.testing.echo", {**runtime_env, "LINLI_ACCESS_LOG": "false"}), token)
            for proc, port, credential in servers.values():  # connect, warm up, fetch the JWKS
                await load(port, credential, min(1000, args.calls), args.concurrency, proc.pid)
            for number in range(1, args.runs + 1):
                run: dict[str, Figures] = {}
                for name, (proc, port, credential) in servers.items():
                    rate, latencies, cpu_us = await load(port, credential, args.calls, args.concurrency, proc.pid)
                    run[name] = figures(rate, latencies, cpu_us, run.get("bare"))
                runs.append(run)
                print_table(f"Run {number} of {args.runs}: {args.calls} calls, {args.concurrency} in flight "
                            f"(load {os.getloadavg()[0]:.1f})", COLUMNS, [table_row(n, f) for n, f in run.items()])
        finally:
            stop_processes([proc for proc, _, _ in servers.values()], grace=10)
            nats.stop()

    medians = {name: {key: median([run[name][key] for run in runs]) for key in runs[0][name]} for name in servers}
    print_table(
        f"Unary echo, median of {args.runs} runs (each ratio the median of the runs' own ratios; "
        f"load {os.getloadavg()[0]:.1f})", COLUMNS, [table_row(n, f) for n, f in medians.items()])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs, each with its own baseline (default 3)")
    parser.add_argument("--calls", type=int, default=10000, help="calls per server per run")
    parser.add_argument("--concurrency", type=int, default=32)
    asyncio.run(main(parser.parse_args()))
