"""The documented one-liner as an integrator runs it: volunteer-points and partner-redemption as
processes of their own (demo data, SQLite, a real nats-server), the sample POS client
(`tools/pos_client.py`) redeeming volunteer v-001's points at the demo terminal — and the same
request id sent again by a second client process charging nothing more."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from linli_runtime.platform import wait_serving
from linli_runtime.processes import NatsServer, free_port
from linli_runtime.testing.fixtures import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def services(tmp_path: Path, nats_server: NatsServer) -> Iterator[str]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(module: str, name: str, extra: dict[str, str]) -> str:
        port = free_port()
        env = {**os.environ, "PORT": str(port), "NATS_URL": nats_server.url, "LINLI_JWT_SECRET": TEST_JWT_SECRET,
               "LINLI_DEMO_DATA": "true", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / name}.db", **extra}
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=subprocess.DEVNULL,
                                stderr=(tmp_path / f"{name}.log").open("wb"))
        procs.append(proc)
        assert wait_serving(f"127.0.0.1:{port}", 90, proc), (tmp_path / f"{name}.log").read_text()[-2000:]
        return f"127.0.0.1:{port}"

    try:
        points = start("linli_points.app", "points", {})
        yield start("linli_redemption.app", "redemption", {"VOLUNTEER_POINTS_SERVICE_ADDR": points})
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def pos_client(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "pos_client.py"), "redeem", "--address", address,
                           *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "LINLI_JWT_SECRET": TEST_JWT_SECRET})


def test_the_sample_pos_client_redeems_at_the_demo_terminal_once_per_request_id(services: str) -> None:
    first = pos_client(services, "--volunteer", "v-001", "--request-id", "e2e-1")
    assert first.returncode == 0, first.stderr
    available = int(re.search(r"(\d+) points available", first.stdout).group(1))  # type: ignore[union-attr]
    name = re.search(r"redeemed: (\S+) 血压测量 x1 for 10 points", first.stdout).group(1)  # type: ignore[union-attr]
    again = pos_client(services, "--volunteer", "v-001", "--request-id", "e2e-1")
    assert again.returncode == 0, again.stderr
    assert f"{available - 10} points available" in again.stdout  # charged once ...
    assert f"redeemed: {name} " in again.stdout  # ... and the retry got the first answer
    dear = pos_client(services, "--volunteer", "v-001", "--reward",
                      "merchants/jinchengyijing-health/rewards/flu-vaccine-voucher", "--quantity", "50")
    assert dear.returncode == 1 and "FAILED_PRECONDITION" in dear.stderr
