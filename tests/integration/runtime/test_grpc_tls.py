"""gRPC over TLS on real servers on loopback (linli_runtime.grpc_tls, the runtime's listeners):
a service with a certificate speaks TLS only; mTLS refuses clients without a certificate from
the platform's CA; a public listener serves only what is mounted on it and never asks for a
client certificate; the plaintext health port answers health alone; a renewed certificate is
served without a restart; connections are ended after their maximum age."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from linli_identity.testing import TestIssuer

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.clients import make_channel
from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.processes import free_port
from linli_runtime.server import INTERNAL, ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME, EchoServicer
from linli_runtime.testing.waiting import wait_until
from linli_runtime.tls import LocalPki

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
Factory = Callable[..., ServiceApp]


@pytest.fixture
def pki(tmp_path: Path) -> LocalPki:
    """The platform's CA: a certificate for the service (as make run issues them) and one for a caller."""
    return LocalPki(tmp_path / "tls").ensure(servers={"echo": ["127.0.0.1", "localhost", "echo"]},
                                              clients=["caller"])


@pytest.fixture
def stranger(tmp_path: Path) -> LocalPki:
    """Another CA, whose certificates the platform does not trust."""
    return LocalPki(tmp_path / "other").ensure(servers={"echo": ["127.0.0.1"]}, clients=["caller"])


def served_tls(pki: LocalPki, *, mtls: bool = False) -> dict[str, object]:
    pair = pki.server("echo")
    return {"grpc_tls_ca": str(pki.ca_file), "grpc_tls_cert": str(pair.cert), "grpc_tls_key": str(pair.key),
            "grpc_mtls": mtls}


def trusting(pki: LocalPki, client: str | None = None) -> GrpcTls:
    if client is None:
        return GrpcTls(str(pki.ca_file))
    pair = pki.client(client)
    return GrpcTls(str(pki.ca_file), str(pair.cert), str(pair.key))


@pytest.fixture
async def make_app(tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[Factory]:
    """Echo services built from settings; NATS is never reached (serving does not wait for it)."""
    started: list[ServiceApp] = []

    def build(*, public: bool = False, **settings: object) -> ServiceApp:
        values: dict[str, object] = {"port": 0, "database_url": f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                                     "nats_url": f"nats://127.0.0.1:{free_port()}", **settings}
        app = ServiceApp("echo", ServiceSettings(**values))  # type: ignore[arg-type]
        listeners = (INTERNAL,)
        if public:
            app.add_listener("edge", 0)
            listeners = (INTERNAL, "edge")
        app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, EchoServicer(), FULL_NAME,
                        listeners=listeners)
        started.append(issuer.trust(app))
        return app

    yield build
    for app in started:
        await app.stop(grace=0.5)


async def echo(address: str, tls: GrpcTls, token: str) -> str:
    async with make_channel(address, token=token, tls=tls) as channel:
        reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="你好"), timeout=5)
        return str(reply.message)


async def refused(address: str, tls: GrpcTls, token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await echo(address, tls, token)
    return caught.value.code()


async def test_a_service_with_a_certificate_speaks_tls_only(make_app: Factory, pki: LocalPki, stranger: LocalPki,
                                                            issuer: TestIssuer) -> None:
    app = make_app(**served_tls(pki))
    address = f"127.0.0.1:{await app.start()}"
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    assert await echo(address, trusting(pki), token) == "你好"
    assert await echo(f"localhost:{app.port}", trusting(pki), token) == "你好"  # its other name
    assert await refused(address, PLAINTEXT, token) == grpc.StatusCode.UNAVAILABLE
    assert await refused(address, trusting(stranger), token) == grpc.StatusCode.UNAVAILABLE


async def test_with_mtls_a_client_without_a_certificate_from_the_ca_is_refused(
        make_app: Factory, pki: LocalPki, stranger: LocalPki, issuer: TestIssuer) -> None:
    app = make_app(**served_tls(pki, mtls=True))
    address = f"127.0.0.1:{await app.start()}"
    token = issuer.issue_service_token("partner-redemption")
    assert await refused(address, trusting(pki), token) == grpc.StatusCode.UNAVAILABLE  # no certificate
    stranger_cert = GrpcTls(str(pki.ca_file), str(stranger.client("caller").cert), str(stranger.client("caller").key))
    assert await refused(address, stranger_cert, token) == grpc.StatusCode.UNAVAILABLE  # not the platform's CA
    assert await echo(address, trusting(pki, "caller"), token) == "你好"
    # A service calls another with its own certificate: it serves both ends (serverAuth + clientAuth).
    assert await echo(address, app.grpc_tls, token) == "你好"


async def test_a_public_listener_serves_only_what_is_mounted_on_it_over_tls_without_client_certificates(
        make_app: Factory, pki: LocalPki, issuer: TestIssuer) -> None:
    app = make_app(**served_tls(pki, mtls=True))
    app.add_listener("pos", 0)  # nothing mounted on it: health and reflection only
    await app.start()
    edge = f"127.0.0.1:{app.ports['pos']}"
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await echo(edge, trusting(pki), token)  # no client certificate asked for …
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # … and Echo is not served here
    assert await refused(edge, PLAINTEXT, token) == grpc.StatusCode.UNAVAILABLE
    async with make_channel(edge, tls=trusting(pki)) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        listed = await reflection_services(channel)
    assert listed == {HEALTH, "grpc.reflection.v1alpha.ServerReflection"}


async def test_a_service_mounted_on_a_public_listener_is_served_on_both_ports(
        make_app: Factory, pki: LocalPki, issuer: TestIssuer) -> None:
    app = make_app(public=True, **served_tls(pki))
    await app.start()
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    for port in (app.ports[INTERNAL], app.ports["edge"]):
        assert await echo(f"127.0.0.1:{port}", trusting(pki), token) == "你好"
    async with make_channel(f"127.0.0.1:{app.ports['edge']}", tls=trusting(pki)) as channel:
        assert FULL_NAME in await reflection_services(channel)


async def test_a_public_listener_refuses_to_start_without_tls(make_app: Factory) -> None:
    app = make_app(public=True)
    with pytest.raises(RuntimeError, match="public listener 'edge' serves TLS only: set LINLI_GRPC_TLS_CERT"):
        await app.start()


async def test_the_health_port_answers_health_alone_in_plaintext(make_app: Factory, pki: LocalPki,
                                                                 issuer: TestIssuer) -> None:
    app = make_app(health_port=free_port(), **served_tls(pki, mtls=True))
    await app.start()
    probe = f"127.0.0.1:{app.ports['health']}"
    async with grpc.aio.insecure_channel(probe) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await echo(probe, PLAINTEXT, token)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_renewed_certificate_is_served_without_a_restart(make_app: Factory, pki: LocalPki,
                                                                  stranger: LocalPki, issuer: TestIssuer) -> None:
    """cert-manager renews a mounted Secret in place: the next handshake presents the new one."""
    app = make_app(**served_tls(pki))
    address = f"127.0.0.1:{await app.start()}"
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    assert await refused(address, trusting(stranger), token) == grpc.StatusCode.UNAVAILABLE
    renewed = stranger.server("echo")  # a certificate from another CA stands in for the renewal
    served = pki.server("echo")
    served.key.write_bytes(renewed.key.read_bytes())
    served.cert.write_bytes(renewed.cert.read_bytes())
    os.utime(served.cert, ns=(0, os.stat(served.cert).st_mtime_ns + 1_000_000))  # a new stamp, whatever the clock
    assert await echo(address, trusting(stranger), token) == "你好"
    assert await refused(address, trusting(pki), token) == grpc.StatusCode.UNAVAILABLE


class PeerEcho(echo_pb2_grpc.EchoServiceServicer):
    """Answers with the caller's address: a new connection shows as a new client port."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        return echo_pb2.EchoResponse(message=context.peer())


async def test_connections_end_after_their_maximum_age_and_the_channel_reconnects(
        tmp_path: Path, pki: LocalPki, issuer: TestIssuer) -> None:
    """A long-lived channel (a POS terminal's) is moved to a new connection — which a new
    replica may take — without a failed call."""
    settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                               nats_url=f"nats://127.0.0.1:{free_port()}", grpc_max_connection_age=0.3,
                               grpc_max_connection_age_grace=1, **served_tls(pki))  # type: ignore[arg-type]
    app = issuer.trust(ServiceApp("echo", settings))
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, PeerEcho(), FULL_NAME)
    await app.start()
    token = issuer.issue("worker-li", role="community_worker", scope="chengdu")
    try:
        async with make_channel(f"127.0.0.1:{app.port}", token=token, tls=trusting(pki)) as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            first = (await stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=5)).message
            peers = {first}

            async def moved() -> bool:
                peers.add((await stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=5)).message)
                return len(peers) > 1

            await wait_until(moved, timeout=10, interval=0.1)
    finally:
        await app.stop(grace=0.5)


async def reflection_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for reply in stub.ServerReflectionInfo(ask(), timeout=5):
        return {s.name for s in reply.list_services_response.service}
    raise AssertionError("no reflection reply")


class CallerCertificate(echo_pb2_grpc.EchoServiceServicer):
    """Answers with the common name of the certificate the caller presented (mTLS)."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoResponse:
        names = context.auth_context().get("x509_common_name") or [b""]
        return echo_pb2.EchoResponse(message=names[0].decode())


async def test_a_long_lived_channel_presents_its_renewed_client_certificate(
        tmp_path: Path, pki: LocalPki, stranger: LocalPki, issuer: TestIssuer) -> None:
    """cert-manager renews a service's certificate in place: its long-lived channels to other
    services present the new one from their next call on (and a renewal the server cannot
    trust shows at once, so the files are what is presented), without a restart."""
    pki.ensure(clients=["caller", "caller-renewed"])
    settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                               nats_url=f"nats://127.0.0.1:{free_port()}", **served_tls(pki, mtls=True))  # type: ignore[arg-type]
    app = issuer.trust(ServiceApp("echo", settings))
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, CallerCertificate(), FULL_NAME)
    await app.start()
    token = issuer.issue_service_token("partner-redemption")
    held = pki.client("caller")
    try:
        async with make_channel(f"127.0.0.1:{app.port}", token=token, tls=trusting(pki, "caller"),
                                certificate_check_seconds=0) as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)  # made once, as services make theirs

            async def presented() -> str:
                return str((await stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=5)).message)

            assert await presented() == "caller"

            def renew(pair: object) -> None:
                held.key.write_bytes(pair.key.read_bytes())  # type: ignore[attr-defined]
                held.cert.write_bytes(pair.cert.read_bytes())  # type: ignore[attr-defined]
                os.utime(held.cert, ns=(0, os.stat(held.cert).st_mtime_ns + 1_000_000))

            renew(pki.client("caller-renewed"))
            assert await presented() == "caller-renewed"
            renew(stranger.client("caller"))  # not the platform's CA: the server refuses it
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await presented()
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await app.stop(grace=0.5)
