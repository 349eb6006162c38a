"""The `demo_platform` fixture the CLI and portal tests drive: every installed service serving
on a free port, and its tokens accepted."""

from __future__ import annotations

import stat
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli.governance.v1 import org_pb2, org_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from linli.points.v1 import volunteers_pb2, volunteers_pb2_grpc
from linli_runtime.auth import Role
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
        with demo_platform.sync_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as plaintext:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE, d.name  # type: ignore[attr-defined]


def test_only_services_that_own_a_database_are_given_one(demo_platform: DemoPlatform) -> None:
    for running in demo_platform.platform.services:
        assert running.proc is not None
        environ = Path(f"/proc/{running.proc.pid}/environ").read_bytes().split(b"\0")
        given = any(entry.startswith(b"DATABASE_URL=") for entry in environ)
        assert given == running.descriptor.owns_database, running.descriptor.name


def environ_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if b"=" in e)


def test_each_service_is_given_the_issuer_and_its_own_client_secret_file(demo_platform: DemoPlatform) -> None:
    """`make run`'s wiring: identity started first and provisioned a client per service; every
    other service got the issuer's URL and the path of its own 0600 secret file — no key."""
    wiring = demo_platform.platform.issuer
    assert wiring is not None
    assert demo_platform.platform.services[0].descriptor.issuer, "the issuer starts first"
    for running in demo_platform.platform.services:
        assert running.proc is not None
        env = environ_of(running.proc.pid)
        if running.descriptor.issuer:
            assert env["LINLI_CLIENT_SECRETS_DIR"] == str(wiring.secrets_dir)
            continue
        own = wiring.secret_file(running.descriptor)
        assert env["LINLI_ISSUER_URL"] == wiring.url and env["LINLI_CLIENT_SECRET_FILE"] == str(own)
        assert stat.S_IMODE(own.stat().st_mode) == 0o600
        assert not [k for k in env if "JWT" in k or "SIGNING" in k or "KEY_ENCRYPTION" in k], running.descriptor.name


def test_the_portals_own_token_reads_public_pages_and_nothing_else(demo_platform: DemoPlatform) -> None:
    portal = (("authorization", f"Bearer {demo_platform.service_token('portal')}"),)
    with demo_platform.sync_channel("trust-governance") as channel:
        unit = org_pb2_grpc.OrgServiceStub(channel).GetOrgUnit(org_pb2.GetOrgUnitRequest(path="chengdu"),
                                                               metadata=portal, timeout=10)
        assert unit.org_unit.path == "chengdu"
        with pytest.raises(grpc.RpcError) as refused:
            rollout_pb2_grpc.RolloutServiceStub(channel).SummarizeRollout(
                rollout_pb2.SummarizeRolloutRequest(path="chengdu"), metadata=portal, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    with demo_platform.sync_channel("volunteer-points") as channel, \
            pytest.raises(grpc.RpcError) as refused:
        volunteers_pb2_grpc.VolunteerServiceStub(channel).ListVolunteers(volunteers_pb2.ListVolunteersRequest(
            community_path="chengdu/jinjiang/chenglonglu/fengshu"), metadata=portal, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def test_people_and_services_get_their_tokens_from_the_issuer(demo_platform: DemoPlatform) -> None:
    import jwt

    for token in (demo_platform.token(), demo_platform.service_token("partner-redemption"),
                  demo_platform.token(Role.COMMUNITY_WORKER, "chengdu/jinjiang/chenglonglu/fengshu")):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == demo_platform.issuer_url and jwt.get_unverified_header(token)["alg"] == "EdDSA"
    with demo_platform.sync_channel("trust-governance") as channel:
        summary = rollout_pb2_grpc.RolloutServiceStub(channel).SummarizeRollout(
            rollout_pb2.SummarizeRolloutRequest(path="chengdu/chongzhou"),
            metadata=(("authorization", f"Bearer {demo_platform.token(Role.CITY_OPERATOR, 'chengdu')}"),), timeout=10)
    assert summary.headline == "崇州市: 14 adopted, 3 importing"


def test_each_process_is_given_its_own_certificate_and_the_platforms_ca(demo_platform: DemoPlatform) -> None:
    """`make run`'s TLS: one CA under var/tls, a certificate per process (the portal's too: it
    presents it when mTLS asks); partner-redemption its POS edge's port."""
    tls = demo_platform.platform.tls
    for running in demo_platform.platform.services:
        assert running.proc is not None
        env = environ_of(running.proc.pid)
        own = tls.pki.server(running.descriptor.name)
        assert (env["LINLI_GRPC_TLS_CA"], env["LINLI_GRPC_TLS_CERT"], env["LINLI_GRPC_TLS_KEY"]) == (
            str(tls.ca_file), str(own.cert), str(own.key)), running.descriptor.name
        assert stat.S_IMODE(own.key.stat().st_mode) == 0o600
        assert ("LINLI_POS_PORT" in env) == bool(running.descriptor.pos_port), running.descriptor.name
