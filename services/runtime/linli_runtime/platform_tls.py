"""gRPC over TLS for the platforms run on this machine (`make run`, `make run-cluster`, the e2e
tests): what Compose (the tls-init job) and Kubernetes (cert-manager) give the deployed ones.

Under `<var>/tls`, from the same local CA as NATS's certificate (linli_runtime.tls): one
certificate per process, named after it (`partner-redemption.pem`, `-key.pem`), for
127.0.0.1, localhost and the service's name — its server certificate, and its client one when
mTLS asks. Clients of the platform (the CLI, the sample POS client, grpcurl, tests) trust
`<var>/tls/ca.pem`; with `mtls` they present `operator.pem`. Made once, kept while valid.

    tls = PlatformTls(var_dir).prepare(["volunteer-points", "partner-redemption"])
    env = tls.env_for("volunteer-points")           # LINLI_GRPC_TLS_CA / _CERT / _KEY / LINLI_GRPC_MTLS
    async with tls.channel(address, token=token) as channel: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import grpc

from linli_runtime.clients import TokenSource, make_channel
from linli_runtime.grpc_tls import LOCAL_OPERATOR, GrpcTls
from linli_runtime.tls import LocalPki

HOSTS = ("127.0.0.1", "localhost")
# The client certificate people's tools present when the platform asks for one (mTLS); the CLI
# finds it beside the CA (grpc_tls.client_trust).
OPERATOR = LOCAL_OPERATOR


class PlatformTls:
    def __init__(self, var_dir: Path, *, mtls: bool = False) -> None:
        self.pki = LocalPki(Path(var_dir) / "tls")
        self.mtls = mtls

    @property
    def ca_file(self) -> Path:
        return self.pki.ca_file

    def prepare(self, processes: Iterable[str]) -> PlatformTls:
        """The CA and a certificate for each of `processes` (and the operator's, for mTLS)."""
        self.pki.ensure(servers={name: [*HOSTS, name] for name in processes},
                        clients=[OPERATOR] if self.mtls else [])
        return self

    def of(self, process: str) -> GrpcTls:
        """What `process` serves and calls with."""
        pair = self.pki.server(process)
        return GrpcTls(str(self.ca_file), str(pair.cert), str(pair.key), self.mtls)

    def env_for(self, process: str) -> dict[str, str]:
        """The settings `process` starts with (LINLI_GRPC_TLS_*, LINLI_GRPC_MTLS)."""
        return self.of(process).as_env()

    @property
    def client(self) -> GrpcTls:
        """What a client of the platform trusts (and presents, under mTLS)."""
        if not self.mtls:
            return GrpcTls(str(self.ca_file))
        pair = self.pki.client(OPERATOR)
        return GrpcTls(str(self.ca_file), str(pair.cert), str(pair.key))

    def client_env(self) -> dict[str, str]:
        """The environment that makes the CLI and the sample POS client trust this platform."""
        client = self.client
        return {"LINLI_GRPC_TLS_CA": client.ca_file, "LINLI_GRPC_TLS_CERT": client.cert_file,
                "LINLI_GRPC_TLS_KEY": client.key_file}

    def channel(self, addresses: str, *, token: str | TokenSource | None = None,
                default_timeout: float = 5.0) -> grpc.aio.Channel:
        return make_channel(addresses, token=token, default_timeout=default_timeout, tls=self.client)

    def sync_channel(self, address: str) -> grpc.Channel:
        return self.client.sync_channel(address)
