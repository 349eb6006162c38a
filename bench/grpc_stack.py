"""Benchmark: one unary call through the full service runtime (JWT authentication, request id,
access log, Prometheus latency, error mapping) next to a bare grpc.aio echo server, each in
its own process on this machine, same client, same run; the runtime twice, with its access log
on (the default) and off (LINLI_ACCESS_LOG=false). The client makes the same calls to each, its
bearer token included: the bare server ignores it, but carrying a JWT of several hundred bytes in
every call's headers costs each end tens of µs a call (HPACK, measured ~40 on the server, ~55 on
the client) whoever reads it — the token's price, not the stack's (the stack verifies it, from
its cache after the first call).

    .venv/bin/python -m bench.grpc_stack --runs 3 --calls 10000 --concurrency 32

Each run loads every server with its calls in `--slices` slices, interleaved — bare, runtime,
runtime without access log, then again, each round starting one server further on — and prints
each server's figures over its slices: calls/s, p50/p99 latency, the server process's CPU per
call, with their ratios to that run's bare server; then the median of each figure and of each
ratio over the runs. Interleaved, the servers of a run share whatever the machine's neighbours
did during it: loaded one after the other, a neighbour busy during one server's turn alone made
the run's ratio anything from 0.72 to 0.94 (issue 18). On a machine shared with other work the
CPU per call is the steadier figure: calls/s also measures what the neighbours took. The load
average is printed with each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
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


class Loader:
    """A client's channel to one server, warmed up (connected, its token verified once), that
    loads it with calls and keeps what they measured across the run's slices."""

    def __init__(self, port: int, token: str | None, pid: int) -> None:
        self.port, self.token, self.pid = port, token, pid
        self.request = echo_pb2.EchoRequest(message="x" * 100)
        self.reset()

    def reset(self) -> None:
        self.calls, self.seconds, self.cpu = 0, 0.0, 0.0
        self.latencies: list[float] = []

    async def __aenter__(self) -> Loader:
        self.channel = make_channel(f"127.0.0.1:{self.port}", token=self.token, default_timeout=10)
        self.stub = echo_pb2_grpc.EchoServiceStub(self.channel)
        await self.stub.Echo(self.request)  # connect
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.channel.close()

    async def load(self, calls: int, concurrency: int) -> None:
        """`calls` calls, `concurrency` in flight; their time, latencies and the server's CPU kept."""
        remaining = calls
        latencies = self.latencies

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await self.stub.Echo(self.request)
                latencies.append((time.perf_counter() - started) * 1000)

        started, cpu = time.perf_counter(), cpu_seconds(self.pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        self.seconds += time.perf_counter() - started
        self.cpu += cpu_seconds(self.pid) - cpu
        self.calls += calls

    def measured(self) -> tuple[float, list[float], float]:
        """(calls/s, latencies in ms, the server's CPU µs per call) since the last reset."""
        return self.calls / self.seconds, self.latencies, self.cpu / self.calls * 1e6


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
            async with AsyncExitStack() as channels:
                loaders = {name: await channels.enter_async_context(Loader(port, credential, proc.pid))
                           for name, (proc, port, credential) in servers.items()}
                for loader in loaders.values():  # warm up, fetch the JWKS
                    await loader.load(min(1000, args.calls), args.concurrency)
                names = list(loaders)
                for number in range(1, args.runs + 1):
                    for loader in loaders.values():
                        loader.reset()
                    for turn in range(args.slices):
                        for name in names[turn % len(names):] + names[:turn % len(names)]:
                            await loaders[name].load(args.calls // args.slices, args.concurrency)
                    run: dict[str, Figures] = {}
                    for name, loader in loaders.items():
                        run[name] = figures(*loader.measured(), run.get("bare"))
                    runs.append(run)
                    print_table(f"Run {number} of {args.runs}: {args.calls} calls in {args.slices} slices, "
                                f"{args.concurrency} in flight (load {os.getloadavg()[0]:.1f})", COLUMNS,
                                [table_row(n, f) for n, f in run.items()])
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
    parser.add_argument("--slices", type=int, default=6,
                        help="slices of each server's calls per run, interleaved with the other servers' (default 6)")
    asyncio.run(main(parser.parse_args()))
