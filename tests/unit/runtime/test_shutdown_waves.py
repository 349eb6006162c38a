"""The order `make run` stops services in: callers before the services they call (issue 16, defect 4)."""

from __future__ import annotations

from pathlib import Path

from linli_runtime.platform import RunningService, shutdown_waves
from linli_runtime.registry import installed_services


def test_the_installed_services_stop_portal_first_then_redemption_then_points() -> None:
    services = [RunningService(d, 0, Path(f"{d.name}.log")) for d in installed_services()]
    order = [s.descriptor.name for wave in shutdown_waves(services) for s in wave]
    assert order.index("portal") < order.index("partner-redemption") < order.index("volunteer-points")
    assert order.index("volunteer-points") < order.index("trust-governance"), "the org tree's owner stops last"


def test_replicas_of_one_service_stop_in_the_same_wave() -> None:
    [first, *_] = installed_services()
    replicas = [RunningService(first, port, Path(f"r{port}.log")) for port in (1, 2)]
    assert shutdown_waves(replicas) == [replicas]
