"""The local runner behind `make run`: NATS and services as real processes, gRPC over TLS from
the local CA under var/tls (plaintext refused), stopped cleanly, data reused on the next start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from linli_identity.descriptor import SERVICE as IDENTITY

from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.platform import LocalPlatform
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.testing.platform import TEST_ISSUER_ENV
from linli_runtime.testing.signin import IssuerBrowser, latest_code

ECHO = ServiceDescriptor(name="echo", module="linli_runtime.testing.echo", default_port=0)
# The echo service is asked for its health only: the issuer it would trust is never reached.
NO_CALLS = {"LINLI_ISSUER_URL": "https://issuer.linli.test"}
LINLI = Path(sys.executable).parent / "linli"


@pytest.fixture
def platform(tmp_path: Path):  # type: ignore[no-untyped-def]
    platform = LocalPlatform(tmp_path / "var", nats_port=0, services=[ECHO], extra_env=NO_CALLS)
    yield platform
    platform.stop()


def health(address: str, tls: GrpcTls) -> int:
    with tls.sync_channel(address) as channel:
        return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def test_runner_starts_nats_and_services_stops_them_and_reuses_data(platform: LocalPlatform) -> None:
    platform.start()
    [echo] = platform.services
    assert health(echo.address, platform.tls.client) == health_pb2.HealthCheckResponse.SERVING
    # TLS only, with a certificate from var/tls/ca.pem — the CA the CLI finds there.
    assert platform.tls.ca_file == platform.var_dir / "tls" / "ca.pem"
    with pytest.raises(grpc.RpcError) as plaintext:
        health(echo.address, PLAINTEXT)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert platform.nats.running
    database = platform.var_dir / "echo.db"
    assert database.exists()
    procs = [echo.proc]
    platform.stop()
    assert all(p is not None and p.returncode == 0 for p in procs), "services exited cleanly on SIGTERM"
    assert not platform.nats.running

    again = LocalPlatform(platform.var_dir, nats_port=0, services=[ECHO], extra_env=NO_CALLS)
    try:
        again.start()
        assert health(again.services[0].address, again.tls.client) == health_pb2.HealthCheckResponse.SERVING
        assert database.exists()
    finally:
        again.stop()


def test_every_installed_service_is_runnable() -> None:
    for descriptor in installed_services():
        found = subprocess.run([sys.executable, "-c", f"import importlib.util as u; "
                                f"assert u.find_spec({descriptor.module!r})"], check=False)
        assert found.returncode == 0, f"{descriptor.name}: module {descriptor.module} not importable"


def test_a_fresh_install_gets_its_first_admin_who_signs_in_with_an_sms_code(tmp_path: Path) -> None:
    """No demo data: `linli platform create-admin` makes the first platform admin (refused the
    second time); they sign in at the issuer with the code `linli platform sms-codes` shows."""
    var = tmp_path / "var"
    platform = LocalPlatform(var, nats_port=0, services=[IDENTITY], demo_data=False, extra_env=TEST_ISSUER_ENV)
    try:
        platform.start()
        assert platform.issuer is not None
        created = subprocess.run([str(LINLI), "platform", "create-admin", "--phone", "13812345678", "--name", "张三",
                                  "--var-dir", str(var), "--json"], capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        assert created.stdout.count("platform_admin") == 1
        again = subprocess.run([str(LINLI), "platform", "create-admin", "--phone", "13812345679", "--name", "李四",
                                "--var-dir", str(var)], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "platform admin exists already" in again.stderr
        browser = IssuerBrowser(platform.issuer.url, platform.issuer.sms_dir / "codes.jsonl")
        try:
            browser.sign_in("+8613812345678")
            shown = subprocess.run([str(LINLI), "platform", "sms-codes", "--phone", "13812345678", "--var-dir",
                                    str(var)], capture_output=True, text=True, timeout=30)
            assert shown.returncode == 0 and latest_code(browser.sms_file, "+8613812345678") in shown.stdout
            tokens = browser.device_tokens()
        finally:
            browser.close()
        import jwt

        claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
        assert claims["iss"] == platform.issuer.url and claims["grants"] == [{"role": "platform_admin", "scope": ""}]
    finally:
        platform.stop()
