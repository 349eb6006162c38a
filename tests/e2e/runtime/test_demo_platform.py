"""The `demo_platform` fixture the CLI and portal tests drive: every installed service serving
on a free port, and its tokens accepted."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli_runtime.registry import installed_services
from linli_runtime.testing.platform import DemoPlatform


def test_every_installed_service_serves_on_its_own_free_port(demo_platform: DemoPlatform) -> None:
    assert set(demo_platform.addresses) == {d.addr_env for d in installed_services()}
    assert len(set(demo_platform.addresses.values())) == len(demo_platform.addresses)
    for d in installed_services():
        address = demo_platform.address(d.name)
        if d.protocol == "http":  # the web portal
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as reply:
                assert reply.status == 200
            continue
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_only_services_that_own_a_database_are_given_one(demo_platform: DemoPlatform) -> None:
    for running in demo_platform.platform.services:
        assert running.proc is not None
        environ = Path(f"/proc/{running.proc.pid}/environ").read_bytes().split(b"\0")
        given = any(entry.startswith(b"DATABASE_URL=") for entry in environ)
        assert given == running.descriptor.owns_database, running.descriptor.name
