"""The local runner behind `make run`: NATS and services as real processes, stopped cleanly,
data reused on the next start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli_runtime.platform import LocalPlatform
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.testing.fixtures import TEST_JWT_SECRET

ECHO = ServiceDescriptor(name="echo", module="linli_runtime.testing.echo", default_port=0)


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LINLI_JWT_SECRET", TEST_JWT_SECRET)
    platform = LocalPlatform(tmp_path / "var", nats_port=0, services=[ECHO])
    yield platform
    platform.stop()


def health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def test_runner_starts_nats_and_services_stops_them_and_reuses_data(platform: LocalPlatform) -> None:
    platform.start()
    [echo] = platform.services
    assert health(echo.address) == health_pb2.HealthCheckResponse.SERVING
    assert platform.nats.running
    database = platform.var_dir / "echo.db"
    assert database.exists()
    procs = [echo.proc]
    platform.stop()
    assert all(p is not None and p.returncode == 0 for p in procs), "services exited cleanly on SIGTERM"
    assert not platform.nats.running

    again = LocalPlatform(platform.var_dir, nats_port=0, services=[ECHO])
    try:
        again.start()
        assert health(again.services[0].address) == health_pb2.HealthCheckResponse.SERVING
        assert database.exists()
    finally:
        again.stop()


def test_every_installed_service_is_runnable() -> None:
    for descriptor in installed_services():
        found = subprocess.run([sys.executable, "-c", f"import importlib.util as u; "
                                f"assert u.find_spec({descriptor.module!r})"], check=False)
        assert found.returncode == 0, f"{descriptor.name}: module {descriptor.module} not importable"


def test_cli_issues_tokens_and_refuses_bad_scopes() -> None:
    linli = Path(sys.executable).parent / "linli"
    ok = subprocess.run([str(linli), "token", "issue", "--role", "community_worker", "--scope",
                         "chengdu/jinjiang/chenglonglu/fengshu", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and '"scope": "chengdu/jinjiang/chenglonglu/fengshu"' in ok.stdout
    bad = subprocess.run([str(linli), "token", "issue", "--scope", "chengdu/锦江"], capture_output=True, text=True)
    assert bad.returncode == 2 and "segment" in bad.stderr
    bad_role = subprocess.run([str(linli), "token", "issue", "--role", "emperor"], capture_output=True, text=True)
    assert bad_role.returncode != 0
