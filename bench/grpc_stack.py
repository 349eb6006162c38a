"""Benchmark: one unary call through the full service runtime (JWT authentication, request id,
access log, Prometheus latency, error mapping) next to a bare grpc.aio echo server, each in
its own process on this machine, same client, same run; the runtime twice, with its access log
on (the default) and off (LINLI_ACCESS_LOG=false).

    .venv/bin/python -m bench.grpc_stack --calls 20000 --concurrency 32 --rounds 3

Prints calls/s, p50/p99 latency and the server process's CPU per call for each (medians over
rounds) and their ratios to the bare server. On a machine shared with other work the CPU per
call is the steadier figure: calls/s also measures what the neighbours took.
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


async def main(args: argparse.Namespace) -> None:
    # The runtime verifies tokens against a test issuer's JWKS (identity's token code, served on
    # loopback), fetched once and cached as from the real issuer.
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp, serve_test_issuer() as issuer:
        nats = NatsServer(Path(tmp) / "nats").start()
        runtime_env = {"PORT": "0", "NATS_URL": nats.url, "LINLI_ISSUER_URL": issuer.url,
                       "DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'echo.db'}",
                       "LINLI_LOG_LEVEL": "INFO"}
        servers = {
            "bare": (*start("bench.bare_echo", {}), None),
            "runtime": (*start("linli_runtime.testing.echo", runtime_env), token := issuer.issue(
                "bench", role="community_worker", scope="chengdu")),
            "runtime, no access log": (*start("linli_runtime.testing.echo",
                                              {**runtime_env, "LINLI_ACCESS_LOG": "false"}), token),
        }
        results: dict[str, list[tuple[float, list[float], float]]] = {name: [] for name in servers}
        try:
            for _ in range(args.rounds):
                for name, (proc, port, credential) in servers.items():
                    results[name].append(await load(port, credential, args.calls, args.concurrency, proc.pid))
        finally:
            for proc, _, _ in servers.values():
                proc.terminate()
                proc.wait(10)
            nats.stop()

    def rate(name: str) -> float:
        return median([r for r, _, _ in results[name]])

    def cpu(name: str) -> float:
        return median([c for _, _, c in results[name]])

    def row(name: str) -> list[str]:
        p50 = median([median(lat) for _, lat, _ in results[name]])
        p99 = median([percentile(lat, 99) for _, lat, _ in results[name]])
        return [name, f"{rate(name):,.0f}", f"{rate(name) / rate('bare'):.2f}", f"{p50:.2f}", f"{p99:.2f}",
                f"{cpu(name):.0f}", f"{cpu('bare') / cpu(name):.2f}"]

    print_table(
        f"Unary echo, {args.calls} calls x {args.rounds} rounds, {args.concurrency} in flight (medians; "
        f"load {os.getloadavg()[0]:.1f})",
        ["server", "calls/s", "x bare", "p50 ms", "p99 ms", "server CPU µs/call", "bare CPU / CPU"],
        [row(name) for name in servers],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
