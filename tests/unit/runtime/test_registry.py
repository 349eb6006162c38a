"""Where clients reach a service: the registry's address variable and local port."""

from __future__ import annotations

import pytest

from linli_runtime.registry import ServiceDescriptor, installed_services, service_address


def test_a_service_is_reached_at_its_address_variable_else_its_local_port(monkeypatch: pytest.MonkeyPatch) -> None:
    points = next(d for d in installed_services() if d.name == "volunteer-points")
    monkeypatch.delenv(points.addr_env, raising=False)
    assert service_address("volunteer-points") == f"127.0.0.1:{points.default_port}"
    monkeypatch.setenv(points.addr_env, "points-a:50052,points-b:50052")
    assert service_address("volunteer-points") == "points-a:50052,points-b:50052"
    with pytest.raises(KeyError):
        service_address("no-such-service")


def test_services_are_grpc_unless_they_say_otherwise() -> None:
    assert ServiceDescriptor(name="x", module="x.main", default_port=1).protocol == "grpc"
