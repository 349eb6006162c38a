"""linli_runtime.grpc_tls without a network: half a configuration is refused with what to set,
command-line clients find their trust in the documented order, a channel to several replicas
checks their shared name, and a server's options carry the connection age."""

from __future__ import annotations

from pathlib import Path

import pytest

from linli_runtime.grpc_tls import LOCAL_CA, GrpcTls, TlsConfigError, client_trust
from linli_runtime.server import connection_age_options
from linli_runtime.settings import ServiceSettings


def files(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_text("PEM")
        paths.append(str(path))
    return paths


def test_half_a_configuration_is_refused_saying_what_to_set(tmp_path: Path) -> None:
    ca, cert, key = files(tmp_path, "ca.pem", "svc.pem", "svc-key.pem")
    with pytest.raises(TlsConfigError, match="LINLI_GRPC_TLS_CERT and LINLI_GRPC_TLS_KEY go together"):
        GrpcTls(ca, cert, "").check()
    with pytest.raises(TlsConfigError, match="LINLI_GRPC_MTLS needs LINLI_GRPC_TLS_CA"):
        GrpcTls("", cert, key, mtls=True).check()
    with pytest.raises(TlsConfigError, match=r"LINLI_GRPC_TLS_CA=.*nowhere.pem: no such file"):
        GrpcTls(str(tmp_path / "nowhere.pem")).check()
    settings = ServiceSettings(grpc_tls_ca=ca, grpc_tls_cert=cert, grpc_tls_key=key, grpc_mtls=True)
    tls = GrpcTls.from_settings(settings)
    assert (tls.serves_tls, tls.trusts, tls.mtls) == (True, True, True)
    assert not GrpcTls.from_settings(ServiceSettings()).trusts  # plaintext unless configured


def test_a_public_listener_may_present_its_own_certificate(tmp_path: Path) -> None:
    ca, cert, key, public, public_key = files(tmp_path, "ca.pem", "svc.pem", "svc-key.pem", "pos.pem", "pos-key.pem")
    tls = GrpcTls(ca, cert, key, mtls=True)
    assert tls.with_certificate("", "") is tls
    assert tls.with_certificate(public, public_key) == GrpcTls(ca, public, public_key, mtls=True)


def test_a_channel_to_several_replicas_checks_the_name_they_share() -> None:
    tls = GrpcTls("ca.pem")
    assert tls.channel_options("volunteer-points:50052") == []
    assert tls.channel_options("dns:///volunteer-points:50052") == []
    assert tls.channel_options("127.0.0.1:50052, 127.0.0.1:50152") == [("grpc.ssl_target_name_override", "127.0.0.1")]


def test_command_line_clients_find_their_trust_in_the_documented_order(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LINLI_GRPC_TLS_CA", "LINLI_GRPC_TLS_CERT", "LINLI_GRPC_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert client_trust(cwd=tmp_path) == GrpcTls()  # nothing anywhere: plaintext
    local = tmp_path / LOCAL_CA
    local.parent.mkdir(parents=True)
    local.write_text("PEM")
    assert client_trust(cwd=tmp_path) == GrpcTls(str(local))  # make run's CA, found in the repository
    operator = local.with_name("operator.pem"), local.with_name("operator-key.pem")
    for path in operator:
        path.write_text("PEM")
    assert client_trust(cwd=tmp_path) == GrpcTls(str(local), str(operator[0]), str(operator[1]))  # make run --mtls
    [other] = files(tmp_path, "other-ca.pem")
    monkeypatch.setenv("LINLI_GRPC_TLS_CA", other)
    assert client_trust(cwd=tmp_path).ca_file == other  # the environment over the local CA
    assert client_trust(local, cwd=tmp_path).ca_file == str(local)  # --ca over both
    monkeypatch.setenv("LINLI_GRPC_TLS_CA", "")
    assert client_trust(cwd=tmp_path) == GrpcTls()  # set but empty: plaintext, on purpose
    with pytest.raises(TlsConfigError, match="no such file"):
        client_trust(tmp_path / "missing.pem", cwd=tmp_path)


def test_servers_end_connections_after_the_configured_age() -> None:
    assert connection_age_options(ServiceSettings()) == [("grpc.max_connection_age_ms", 300_000),
                                                         ("grpc.max_connection_age_grace_ms", 30_000)]
    assert connection_age_options(ServiceSettings(grpc_max_connection_age=0)) == []
