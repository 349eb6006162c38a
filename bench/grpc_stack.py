"""Benchmark: one unary call through the full service runtime (JWT authentication, request id,
access log, Prometheus latency, error mapping) next to a bare grpc.aio echo server, both in
their own processes on this machine, same client, same run.

    .venv/bin/python -m bench.grpc_stack --calls 20000 --concurrency 32 --rounds 3

Prints calls/s and p50/p99 latency for both and their ratio (medians over rounds).
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


async def load(port: int, token: str | None, calls: int, concurrency: int) -> tuple[float, list[float]]:
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

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return calls / elapsed, latencies


async def main(args: argparse.Namespace) -> None:
    # The runtime verifies tokens against a test issuer's JWKS (identity's token code, served on
    # loopback), fetched once and cached as from the real issuer.
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp, serve_test_issuer() as issuer:
        nats = NatsServer(Path(tmp) / "nats").start()
        runtime_env = {"PORT": "0", "NATS_URL": nats.url, "LINLI_ISSUER_URL": issuer.url,
                       "DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'echo.db'}",
                       "LINLI_LOG_LEVEL": "INFO"}
        bare, bare_port = start("bench.bare_echo", {})
        full, full_port = start("linli_runtime.testing.echo", runtime_env)
        token = issuer.issue("bench", role="community_worker", scope="chengdu")
        results: dict[str, list[tuple[float, list[float]]]] = {"bare": [], "runtime": []}
        try:
            for _ in range(args.rounds):
                results["bare"].append(await load(bare_port, None, args.calls, args.concurrency))
                results["runtime"].append(await load(full_port, token, args.calls, args.concurrency))
        finally:
            for proc in (bare, full):
                proc.terminate()
                proc.wait(10)
            nats.stop()

    def row(name: str) -> list[str]:
        rates = [r for r, _ in results[name]]
        p50 = median([median(lat) for _, lat in results[name]])
        p99 = median([percentile(lat, 99) for _, lat in results[name]])
        return [name, f"{median(rates):,.0f}", f"{p50:.2f}", f"{p99:.2f}"]

    bare_rate = median([r for r, _ in results["bare"]])
    full_rate = median([r for r, _ in results["runtime"]])
    print_table(
        f"Unary echo, {args.calls} calls x {args.rounds} rounds, {args.concurrency} in flight (medians); "
        f"runtime/bare = {full_rate / bare_rate:.0%}",
        ["server", "calls/s", "p50 ms", "p99 ms"],
        [row("bare"), row("runtime")],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
