"""The `demo_platform` fixture the CLI and portal tests drive: every installed service serving
on a free port, and its tokens accepted."""

from __future__ import annotations

import urllib.request

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
