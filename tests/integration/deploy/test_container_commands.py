"""The commands the images run — the health check, the entrypoint, the demo-data seeder — run
here natively against a real service (the runtime's echo service), as the container would:
in plaintext, and over (mutual) TLS as compose and Kubernetes run them."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.platform import wait_serving
from linli_runtime.processes import free_port
from linli_runtime.registry import installed_services
from linli_runtime.tls import LocalPki
from tests.unit.deploy.deploykit import REPO, load_compose, planned_services

COMPOSE = load_compose()
SERVICE = planned_services(COMPOSE)[0].name
DOCKERFILE = (REPO / "Dockerfile").read_text()
ECHO_MODULE = "linli_runtime.testing.echo"


def container_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """What the image's ENV and a deployment give the process, pointing at loopback."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",
        "LINLI_SERVICE_MODULE": ECHO_MODULE,
        "LINLI_HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",  # nobody there: serving does not wait for NATS
        # The issuer it would trust (no call here needs a token: it is never reached).
        "LINLI_ISSUER_URL": "https://issuer.linli.test",
        **extra,
    }


def entrypoint() -> list[str]:
    [line] = [line for line in DOCKERFILE.splitlines() if line.startswith("ENTRYPOINT")]
    return list(json.loads(line.removeprefix("ENTRYPOINT")))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen(entrypoint(), env=container_env(tmp_path, port), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_serving(f"127.0.0.1:{port}", 30, proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def health_command() -> list[str]:
    test = COMPOSE["services"][SERVICE]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [sys.executable, *test[2:]]


def test_the_entrypoint_execs_the_service_which_drains_on_sigterm(
    service: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, _ = service
    # exec: the process we started *is* python (no shell in between to swallow SIGTERM).
    assert Path(f"/proc/{proc.pid}/exe").resolve().name.startswith("python")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert proc.stdout is not None and b"STOPPED" in proc.stdout.read()


def test_the_health_check_passes_while_serving_and_fails_when_down(
    service: tuple[subprocess.Popen[bytes], int], tmp_path: Path,
) -> None:
    proc, port = service
    env = container_env(tmp_path, port)
    assert subprocess.run(health_command(), env=env, timeout=20).returncode == 0
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert subprocess.run(health_command(), env=env, capture_output=True, timeout=20).returncode != 0
    # The image's own HEALTHCHECK runs the very same probe.
    [docker_health] = re.findall(r'^\s+CMD (\[.*\])$', DOCKERFILE, re.MULTILINE)
    assert json.loads(docker_health)[1:] == COMPOSE["services"][SERVICE]["healthcheck"]["test"][2:]


def test_the_health_check_of_an_http_service_asks_its_healthz(tmp_path: Path) -> None:
    """The web portal's image runs the same probe; for an HTTP service it asks GET /healthz."""
    [http_service] = [d for d in installed_services() if d.protocol == "http"]

    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = [sys.executable, "-m", "linli_runtime.healthcheck"]
    try:
        as_portal = {**container_env(tmp_path, port), "LINLI_SERVICE_NAME": http_service.name,
                     "LINLI_SERVICE_MODULE": http_service.module}
        assert subprocess.run(probe, env=as_portal, timeout=20).returncode == 0
        # The same listener is no gRPC service: a gRPC service's probe fails against it.
        assert subprocess.run(probe, env=container_env(tmp_path, port), capture_output=True,
                              timeout=20).returncode != 0
    finally:
        server.shutdown()
        server.server_close()
    assert subprocess.run(probe, env=as_portal, capture_output=True, timeout=20).returncode != 0


def test_the_demo_seeder_runs_the_service_until_serving_then_stops_it_cleanly(tmp_path: Path) -> None:
    seed = COMPOSE["services"][f"seed-{SERVICE}"]["entrypoint"]
    assert seed[0] == "python"
    port = free_port()
    done = subprocess.run([sys.executable, *seed[1:]], env=container_env(tmp_path, port, LINLI_DEMO_DATA="true"),
                          capture_output=True, timeout=90)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"READY" in done.stdout and b"STOPPED" in done.stdout, "it served, then drained on SIGTERM"
    assert (tmp_path / "echo.db").exists(), "migrated on the way"


def test_the_demo_seeder_fails_when_the_service_cannot_start(tmp_path: Path) -> None:
    seed = COMPOSE["services"][f"seed-{SERVICE}"]["entrypoint"]
    env = container_env(tmp_path, free_port(), LINLI_SERVICE_MODULE="linli_no_such_service.main")
    done = subprocess.run([sys.executable, *seed[1:]], env=env, capture_output=True, timeout=60)
    assert done.returncode != 0


def tls_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """Compose's TLS settings for the echo service: its certificate from the tls-init job's CA
    (for its name and 127.0.0.1), mutual TLS on."""
    pki = LocalPki(tmp_path / "tls").ensure(servers={"echo": ["echo", "localhost", "127.0.0.1"]})
    pair = pki.server("echo")
    return container_env(tmp_path, port, LINLI_GRPC_TLS_CA=str(pki.ca_file), LINLI_GRPC_TLS_CERT=str(pair.cert),
                         LINLI_GRPC_TLS_KEY=str(pair.key), LINLI_GRPC_MTLS="true", **extra)


def test_the_health_check_and_the_seeder_speak_mutual_tls_to_a_service_that_does(tmp_path: Path) -> None:
    port = free_port()
    env = tls_env(tmp_path, port)
    seed = COMPOSE["services"][f"seed-{SERVICE}"]["entrypoint"]
    seeded = subprocess.run([sys.executable, *seed[1:]], env={**env, "LINLI_DEMO_DATA": "true"}, capture_output=True,
                            timeout=90)
    assert seeded.returncode == 0, seeded.stderr.decode()[-2000:]
    proc = subprocess.Popen(entrypoint(), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        own = GrpcTls(env["LINLI_GRPC_TLS_CA"], env["LINLI_GRPC_TLS_CERT"], env["LINLI_GRPC_TLS_KEY"])
        assert wait_serving(f"127.0.0.1:{port}", 30, proc, own)
        assert subprocess.run(health_command(), env=env, timeout=20).returncode == 0  # its own certificate
        plaintext = {k: v for k, v in env.items() if not k.startswith("LINLI_GRPC_TLS")}
        assert subprocess.run(health_command(), env=plaintext, capture_output=True, timeout=20).returncode != 0
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_health_check_asks_the_plaintext_health_port_when_there_is_one(tmp_path: Path) -> None:
    """Kubernetes' way: kubelet's gRPC probes speak no TLS, so the service serves health alone
    on LINLI_HEALTH_PORT; the image's probe asks there too."""
    port, health_port = free_port(), free_port()
    env = tls_env(tmp_path, port, LINLI_HEALTH_PORT=str(health_port))
    proc = subprocess.Popen(entrypoint(), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        plaintext = {k: v for k, v in env.items() if not k.startswith("LINLI_GRPC_TLS")}
        assert wait_serving(f"127.0.0.1:{health_port}", 30, proc)
        assert subprocess.run(health_command(), env=plaintext, timeout=20).returncode == 0
    finally:
        proc.terminate()
        proc.wait(30)
