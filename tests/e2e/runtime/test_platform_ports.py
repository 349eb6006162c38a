"""`linli platform run` keeps every service on its documented port (issue 16, defect 3).

Ctrl-C under load and an immediate `make run` put volunteer-points and partner-redemption on
random ports: the runner's free-port check bound without SO_REUSEADDR, so the old server's
connections in TIME_WAIT made the port look taken, and it silently fell back to any free port
— while the POS terminals kept retrying the documented one. A port in TIME_WAIT is free for a
server (gRPC binds with SO_REUSEADDR); a port another process listens on is not, and then the
runner refuses to start, naming the port and who holds it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.platform import LocalPlatform, PortInUse
from linli_runtime.processes import NatsServer, free_port, wait_for_port
from linli_runtime.registry import ServiceDescriptor
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import echo_app

TIME_WAIT = "06"


def echo_on(port: int) -> ServiceDescriptor:
    return ServiceDescriptor(name="echo", module="linli_runtime.testing.echo", default_port=port)


def tcp_states(port: int) -> list[str]:
    """The states (hex, as the kernel lists them) of every IPv4 TCP socket whose local port is `port`."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return [row[3] for row in rows if int(row[1].rsplit(":", 1)[1], 16) == port]


def leave_in_time_wait(port: int) -> None:
    """What a server stopped under load leaves behind: connections it closed first, in
    TIME_WAIT on its port for a minute or two."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: that end waits in TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()


def health(address: str, tls: GrpcTls) -> int:
    with tls.sync_channel(address) as channel:
        return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status)


# The echo services are asked for their health only: the issuer they would trust is never reached.
NO_CALLS = {"LINLI_ISSUER_URL": "https://issuer.linli.test"}


@pytest.fixture
def platform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_ISSUER_URL", NO_CALLS["LINLI_ISSUER_URL"])


def test_a_port_left_in_time_wait_is_the_services_port_again(tmp_path: Path, platform_env: None) -> None:
    port = free_port()
    leave_in_time_wait(port)
    assert TIME_WAIT in tcp_states(port), "precondition: the port has a connection in TIME_WAIT"
    platform = LocalPlatform(tmp_path / "var", nats_port=free_port(), services=[echo_on(port)],
                             default_ports=True)
    try:
        platform.start()
        [echo] = platform.services
        assert echo.port == port, "the documented port, not a random one"
        assert health(f"127.0.0.1:{port}", platform.tls.client) == health_pb2.HealthCheckResponse.SERVING
    finally:
        platform.stop()


@pytest.fixture
def squatter() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Another process listening on a port (what an old `make run` left running would do)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait()


def test_a_port_another_process_holds_stops_the_start_naming_port_and_holder(
    tmp_path: Path, platform_env: None, squatter: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, proc = squatter
    platform = LocalPlatform(tmp_path / "var", nats_port=free_port(), services=[echo_on(port)],
                             default_ports=True)
    try:
        with pytest.raises(PortInUse) as refused:
            platform.start()
        message = str(refused.value)
        assert "echo" in message and str(port) in message
        assert f"pid {proc.pid}" in message and "http.server" in message, message
        assert all(s.proc is None for s in platform.services), "nothing started on another port"
    finally:
        platform.stop()


def test_the_run_command_exits_with_the_reason_when_a_documented_port_is_taken(
    tmp_path: Path, squatter: tuple[int, subprocess.Popen[bytes]]
) -> None:
    """Through `supervise`, as `linli platform run` reports it: exit 1, the reason on stderr."""
    port, proc = squatter
    script = (
        "import sys; from pathlib import Path\n"
        "from linli_runtime.platform import LocalPlatform, supervise\n"
        "from linli_runtime.registry import ServiceDescriptor\n"
        f"echo = ServiceDescriptor(name='echo', module='linli_runtime.testing.echo', default_port={port})\n"
        f"platform = LocalPlatform(Path({str(tmp_path / 'var')!r}), nats_port=0, services=[echo], "
        "default_ports=True)\n"
        "sys.exit(supervise(platform))\n"
    )
    env = {**os.environ, **NO_CALLS, "COLUMNS": "200"}
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        _, stderr = runner.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # it started after all: stop it as Ctrl-C would, then fail
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 1, stderr
    assert str(port) in stderr and f"pid {proc.pid}" in stderr, stderr


async def test_a_second_server_on_a_port_a_service_serves_is_refused_not_shared(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """gRPC sets SO_REUSEPORT by default: a second instance (an old `make run` still running, a
    service started twice) would bind the same port and silently take half its calls."""
    def settings(port: int, name: str) -> ServiceSettings:
        return ServiceSettings(port=port, database_url=f"sqlite+aiosqlite:///{tmp_path / name}",
                               nats_url=nats_server.url, issuer_url=NO_CALLS["LINLI_ISSUER_URL"])

    first = echo_app(settings(0, "first.db"))
    port = await first.start()
    second = echo_app(settings(port, "second.db"))
    try:
        with pytest.raises(RuntimeError) as refused:
            await second.start()
        assert f"127.0.0.1:{port}" in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
    finally:
        await second.stop(grace=0)
        await first.stop(grace=0)
