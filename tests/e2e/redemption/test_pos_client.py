"""The documented one-liner as an integrator runs it: identity (the token issuer),
volunteer-points and partner-redemption as processes of their own, as `make run` starts them
(demo data, SQLite, a real nats-server, gRPC over TLS from the local CA; the community worker
signed in through the issuer's pages), the sample POS client (`tools/pos_client.py`) redeeming
volunteer v-001's points at the demo terminal over TLS at partner-redemption's POS edge — and
the same request id sent again by a second client process charging nothing more. The edge takes
no plaintext and serves no admin API."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from linli_identity.descriptor import SERVICE as IDENTITY
from linli_points.descriptor import SERVICE as POINTS
from linli_redemption.descriptor import SERVICE as REDEMPTION

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc
from linli_cli.pos import DEMO_CREDENTIAL
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.platform import LocalPlatform
from linli_runtime.processes import free_port
from linli_runtime.testing.platform import TEST_ISSUER_ENV
from linli_runtime.testing.signin import IssuerBrowser

ROOT = Path(__file__).resolve().parents[3]
# The demo data's Fengshu community worker (linli_identity.demo), who may show member codes.
WORKER_PHONE = "+8613800000003"


@dataclasses.dataclass
class Stack:
    address: str  # partner-redemption's own port
    pos_address: str  # its public POS edge
    worker_token: str
    client_env: dict[str, str]  # addresses, POS edge, the CA
    tls: GrpcTls  # what clients of the platform trust


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Stack]:
    """identity (the issuer), volunteer-points and partner-redemption as `make run` starts them:
    partner-redemption calls volunteer-points with its own client credentials."""
    platform = LocalPlatform(tmp_path / "var", nats_port=free_port(), services=[IDENTITY, POINTS, REDEMPTION],
                             demo_data=True, extra_env=TEST_ISSUER_ENV)
    try:
        platform.start()
        assert platform.issuer is not None
        browser = IssuerBrowser(platform.issuer.url, platform.issuer.sms_dir / "codes.jsonl")
        try:
            browser.sign_in(WORKER_PHONE)  # phone + the code from the dev SMS gateway
            token = browser.device_tokens().access_token
        finally:
            browser.close()
        [redemption] = [s for s in platform.services if s.descriptor.name == REDEMPTION.name]
        yield Stack(redemption.address, redemption.pos_address, token, platform.client_env(), platform.tls.client)
    finally:
        platform.stop()


def pos_client(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The sample client with the platform's environment: the POS edge and the service's port
    from PARTNER_REDEMPTION_POS_ADDR / _SERVICE_ADDR, the CA from LINLI_GRPC_TLS_CA."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / "pos_client.py"), "redeem", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **stack.client_env, "LINLI_TOKEN": stack.worker_token})


def test_the_sample_pos_client_redeems_at_the_demo_terminal_once_per_request_id(services: Stack) -> None:
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


async def test_the_pos_edge_takes_tls_only_and_serves_no_admin_api(services: Stack) -> None:
    terminal = (("authorization", DEMO_CREDENTIAL),)
    rewards = pos_pb2.ListRewardsRequest(parent="merchants/jinchengyijing-health")
    async with grpc.aio.insecure_channel(services.pos_address) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pos_pb2_grpc.PosServiceStub(plaintext).ListRewards(rewards, metadata=terminal, timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    worker = (("authorization", f"Bearer {services.worker_token}"),)
    partners = admin_pb2.ListPartnersRequest(community_path="chengdu/jinjiang/chenglonglu/fengshu")
    async with grpc.aio.secure_channel(services.pos_address, services.tls.channel_credentials()) as edge:
        assert (await pos_pb2_grpc.PosServiceStub(edge).ListRewards(rewards, metadata=terminal, timeout=10)).rewards
        for credential in (terminal, worker):
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await admin_pb2_grpc.PartnerServiceStub(edge).ListPartners(partners, metadata=credential, timeout=10)
            assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The worker reaches the same API on the service's own port.
    async with grpc.aio.secure_channel(services.address, services.tls.channel_credentials()) as inside:
        assert (await admin_pb2_grpc.PartnerServiceStub(inside).ListPartners(partners, metadata=worker,
                                                                            timeout=10)).partners
