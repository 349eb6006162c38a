"""partner-redemption's public POS edge on real servers over loopback, as deployed: TLS on every
port, mTLS between the services (partner-redemption calls volunteer-points with its own
certificate) and on the service's own port, while the edge asks terminals for no certificate.

A terminal redeems over TLS at the edge; plaintext to the edge fails; every other API of the
service — found by reflection on its own port, not listed here — is UNIMPLEMENTED at the edge,
even with a terminal credential or an operator's token; the edge's reflection shows PosService
and health alone; the service's own port refuses a client without a certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from linli_identity.testing import TestIssuer
from linli_points.app import create_app as create_points_app
from linli_points.settings import PointsSettings
from linli_points.tables import KNOWN_ORG_UNITS
from linli_redemption.app import POS_EDGE, RedemptionApp, RedemptionSettings, create_app

from linli.points.v1 import ledger_pb2_grpc, volunteers_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime import org_units
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.processes import NatsServer
from linli_runtime.server import ServiceApp
from linli_runtime.tls import LocalPki

from .conftest import FENGSHU, TERMINAL_SECRET_KEY, Kit, bearer, holds_posted

POS = pos_pb2.DESCRIPTOR.services_by_name["PosService"].full_name
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
HOSTS = ["127.0.0.1", "localhost"]


@dataclass
class Edge:
    app: RedemptionApp
    kit: Kit  # pos: at the edge; operators' stubs: on the service's own port (with a certificate)
    edge: str
    internal: str
    pki: LocalPki

    @property
    def trust(self) -> GrpcTls:
        """A terminal's trust: the CA, no certificate of its own."""
        return GrpcTls(str(self.pki.ca_file))


def tls_settings(pki: LocalPki, name: str) -> dict[str, object]:
    pair = pki.server(name)
    return {"grpc_tls_ca": str(pki.ca_file), "grpc_tls_cert": str(pair.cert), "grpc_tls_key": str(pair.key),
            "grpc_mtls": True}


@pytest.fixture
async def deployed(tmp_path: Path, nats_server: NatsServer, clock: ManualClock,
                   issuer: TestIssuer) -> AsyncIterator[Edge]:
    pki = LocalPki(tmp_path / "tls").ensure(
        servers={"volunteer-points": HOSTS, "partner-redemption": HOSTS}, clients=["operator"])
    points = issuer.trust(create_points_app(PointsSettings(
        port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'points.db'}", nats_url=nats_server.url,
        **tls_settings(pki, "volunteer-points")), clock))  # type: ignore[arg-type]
    started: list[ServiceApp] = []
    try:
        await points.start()
        started.append(points)
        # The places the test names, learned as governance's events would teach them.
        await org_units.learn_demo_tree(points.db, KNOWN_ORG_UNITS, clock.now())
        app = issuer.trust(create_app(RedemptionSettings(
            port=0, pos_port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'redemption.db'}",
            nats_url=nats_server.url, demo_data=True, terminal_secret_key=TERMINAL_SECRET_KEY,
            **tls_settings(pki, "partner-redemption")), clock,  # type: ignore[arg-type]
            points_addr=f"127.0.0.1:{points.port}"))
        await app.start()
        started.append(app)
        operator = pki.client("operator")
        with_cert = GrpcTls(str(pki.ca_file), str(operator.cert), str(operator.key))
        edge = f"127.0.0.1:{app.ports[POS_EDGE]}"
        internal = f"127.0.0.1:{app.port}"
        async with make_channel(edge, tls=GrpcTls(str(pki.ca_file)), default_timeout=30) as at_edge, \
                make_channel(internal, tls=with_cert, default_timeout=30) as inside, \
                make_channel(f"127.0.0.1:{points.port}", tls=with_cert, default_timeout=30) as to_points:
            kit = Kit(pos=pos_pb2_grpc.PosServiceStub(at_edge), partners=admin_pb2_grpc.PartnerServiceStub(inside),
                      catalog=admin_pb2_grpc.CatalogServiceStub(inside),
                      cards=admin_pb2_grpc.MemberCardServiceStub(inside),
                      settlement=admin_pb2_grpc.SettlementServiceStub(inside),
                      ledger=ledger_pb2_grpc.LedgerServiceStub(to_points),
                      volunteers=volunteers_pb2_grpc.VolunteerServiceStub(to_points),
                      worker=bearer(issuer.issue("worker-li", role="community_worker", scope=FENGSHU)),
                      service=bearer(issuer.issue_service_token("test")), settled=holds_posted(app, points))
            yield Edge(app, kit, edge, internal, pki)
    finally:
        for running in reversed(started):
            await running.stop(grace=0.5)


async def test_a_terminal_redeems_over_tls_at_the_edge(deployed: Edge) -> None:
    kit = deployed.kit
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=30)
    member = await kit.pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=await kit.code(volunteer)),
                                             metadata=till)
    reply = await kit.pos.Redeem(pos_pb2.RedeemRequest(reward=reward, member_session=member.member_session,
                                                       quantity=1, request_id="edge-1"), metadata=till)
    assert (reply.redemption.state, reply.redemption.points) == (rpb.REDEMPTION_STATE_COMMITTED, 30)
    # The hold and its posting went to volunteer-points over mTLS, with partner-redemption's certificate.
    assert (await kit.balance(volunteer)).available == 70


async def test_plaintext_to_the_edge_fails(deployed: Edge) -> None:
    till = await deployed.kit.terminal()
    async with grpc.aio.insecure_channel(deployed.edge) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pos_pb2_grpc.PosServiceStub(plain).ListRewards(
                pos_pb2.ListRewardsRequest(parent="merchants/jinchengyijing-health"), metadata=till, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_every_other_api_is_unimplemented_at_the_edge(deployed: Edge) -> None:
    till = await deployed.kit.terminal()
    operator = pki_channel(deployed)
    async with operator as inside:
        served = await reflection_services(inside)
    others = sorted(served - {POS, HEALTH, REFLECTION})
    assert admin_pb2.DESCRIPTOR.services_by_name["PartnerService"].full_name in others  # the issue's ListPartners
    methods = [(service, method.name) for service in others
               for method in descriptor_pool.Default().FindServiceByName(service).methods]
    assert len(methods) > 20
    async with make_channel(deployed.edge, tls=deployed.trust) as at_edge:
        for credential in (till, deployed.kit.worker):
            for service, method in methods:
                call = at_edge.unary_unary(f"/{service}/{method}", request_serializer=lambda m: m,
                                           response_deserializer=lambda b: b)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(b"", metadata=credential, timeout=5)
                assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED, (service, method)
        assert await reflection_services(at_edge) == {POS, HEALTH, REFLECTION}
        # The same terminal is served at the edge.
        rewards = await pos_pb2_grpc.PosServiceStub(at_edge).ListRewards(
            pos_pb2.ListRewardsRequest(parent="merchants/jinchengyijing-health"), metadata=till)
        assert rewards.rewards


async def test_the_services_own_port_refuses_a_client_without_a_certificate(deployed: Edge) -> None:
    async with make_channel(deployed.internal, tls=deployed.trust) as no_certificate:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin_pb2_grpc.PartnerServiceStub(no_certificate).ListPartners(
                admin_pb2.ListPartnersRequest(community_path=FENGSHU), metadata=deployed.kit.worker, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    listed = await deployed.kit.partners.ListPartners(admin_pb2.ListPartnersRequest(community_path=FENGSHU),
                                                      metadata=deployed.kit.worker)
    assert listed.partners  # with the operator's certificate


def pki_channel(deployed: Edge) -> grpc.aio.Channel:
    operator = deployed.pki.client("operator")
    return make_channel(deployed.internal, tls=GrpcTls(str(deployed.pki.ca_file), str(operator.cert),
                                                       str(operator.key)))


async def reflection_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for reply in stub.ServerReflectionInfo(ask(), timeout=5):
        return {s.name for s in reply.list_services_response.service}
    raise AssertionError("no reflection reply")
