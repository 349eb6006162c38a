"""trust-governance as `make run` starts it: its own process with demo data, NATS beside it;
asked over gRPC; restarted on the same data without seeding anything twice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from linli_governance.descriptor import SERVICE
from linli_identity.testing import TestIssuer

from linli.governance.v1 import org_pb2, org_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.platform import LocalPlatform

# Port 0: a free port, so a developer's own `make run` on 50051 does not get in the way.
GOVERNANCE = dataclasses.replace(SERVICE, default_port=0)


@pytest.fixture
def token(served_issuer: TestIssuer) -> str:
    return served_issuer.issue("city-op", role="city_operator", scope="chengdu")


def ask(address: str, token: str, tls: GrpcTls) -> tuple[str, int]:
    metadata = (("authorization", f"Bearer {token}"),)
    with tls.sync_channel(address) as channel:
        summary = rollout_pb2_grpc.RolloutServiceStub(channel).SummarizeRollout(
            rollout_pb2.SummarizeRolloutRequest(path="chengdu/chongzhou"), metadata=metadata, timeout=10
        )
        towns = org_pb2_grpc.OrgServiceStub(channel).ListOrgUnits(
            org_pb2.ListOrgUnitsRequest(parent_path="chengdu/chongzhou"), metadata=metadata, timeout=10
        )
    return summary.headline, len(towns.org_units)


def test_demo_platform_answers_and_restarts_without_duplicates(tmp_path: Path, token: str,
                                                              served_issuer: TestIssuer) -> None:
    # The process trusts the test issuer, fetching its keys over HTTP as from identity.
    trust = {"LINLI_ISSUER_URL": served_issuer.url}
    platform = LocalPlatform(tmp_path / "var", nats_port=0, services=[GOVERNANCE], extra_env=trust)
    try:
        platform.start()
        [service] = platform.services
        assert ask(service.address, token, platform.tls.client) == ("崇州市: 14 adopted, 3 importing", 5)
    finally:
        platform.stop()
    assert service.proc is not None and service.proc.returncode == 0, "stopped cleanly on SIGTERM"

    again = LocalPlatform(tmp_path / "var", nats_port=0, services=[GOVERNANCE], extra_env=trust)
    try:
        again.start()
        assert ask(again.services[0].address, token, again.tls.client) == ("崇州市: 14 adopted, 3 importing", 5)
    finally:
        again.stop()
