"""TLS on the platform's gRPC: what a server presents and whom it accepts, what a client trusts
and presents — one answer for every server (server.py) and every channel (clients.py).

    tls = GrpcTls.from_settings(settings)      # LINLI_GRPC_TLS_CA / _CERT / _KEY, LINLI_GRPC_MTLS
    server.add_secure_port(address, tls.server_credentials(client_auth=tls.mtls))
    make_channel("volunteer-points:50052", token=..., tls=tls)

- A process with a certificate and key serves TLS only; one with a CA opens TLS channels that
  check the server's certificate (chain and host name) against that CA alone.
- mTLS (`mtls`): a server accepts only clients presenting a certificate the CA signed. Clients
  present their own certificate whenever a server asks — a service's server certificate carries
  clientAuth too (linli_runtime.tls), so one certificate serves both ends.
- A server reloads its certificate (and the CA it checks clients with) when the files change,
  at the next handshake: cert-manager renews a mounted Secret in place, and nobody restarts.
  A channel made by `clients.make_channel` follows its files too (`clients.RenewingChannel`:
  looked at every minute at most, a new connection with the renewed certificate for the calls
  from then on), so a service's long-lived channels never present an expired certificate.

Command-line clients (the CLI, the sample POS client) find their trust with `client_trust`:
their `--ca`, else LINLI_GRPC_TLS_CA, else `make run`'s CA (var/tls/ca.pem) when it exists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import grpc

log = logging.getLogger("linli.tls")

# `make run`'s CA (linli_runtime.platform: var/tls under the data folder), relative to where the
# CLI runs — the repository, as the README's commands assume.
LOCAL_CA = Path("var") / "tls" / "ca.pem"
CA_ENV = "LINLI_GRPC_TLS_CA"
# The client certificate `make run --mtls` makes for people's tools, beside its CA.
LOCAL_OPERATOR = "operator"


class TlsSettings(Protocol):
    grpc_tls_ca: str
    grpc_tls_cert: str
    grpc_tls_key: str
    grpc_mtls: bool


class TlsConfigError(ValueError):
    """Settings that cannot make a working TLS setup (a certificate without its key, mTLS
    without a CA to check clients with, a file that is not there)."""


@dataclass(frozen=True)
class GrpcTls:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    mtls: bool = False

    @classmethod
    def from_settings(cls, settings: TlsSettings) -> GrpcTls:
        tls = cls(settings.grpc_tls_ca, settings.grpc_tls_cert, settings.grpc_tls_key, settings.grpc_mtls)
        tls.check()
        return tls

    @property
    def serves_tls(self) -> bool:
        """A server with this configuration speaks TLS (it has a certificate and its key)."""
        return bool(self.cert_file and self.key_file)

    @property
    def trusts(self) -> bool:
        """A channel with this configuration speaks TLS (it has a CA to check servers against)."""
        return bool(self.ca_file)

    def with_certificate(self, cert_file: str, key_file: str) -> GrpcTls:
        """The same trust, another certificate (a public listener's own, e.g. the POS edge's)."""
        return replace(self, cert_file=cert_file, key_file=key_file) if cert_file or key_file else self

    def check(self) -> None:
        """Raise TlsConfigError saying what to set when the settings are half a configuration."""
        if bool(self.cert_file) != bool(self.key_file):
            raise TlsConfigError("LINLI_GRPC_TLS_CERT and LINLI_GRPC_TLS_KEY go together: set both (TLS) or neither")
        if self.mtls and not (self.ca_file and self.serves_tls):
            raise TlsConfigError("LINLI_GRPC_MTLS needs LINLI_GRPC_TLS_CA (to check clients' certificates) and "
                                 "LINLI_GRPC_TLS_CERT/_KEY (this process's own)")
        for name, path in (("LINLI_GRPC_TLS_CA", self.ca_file), ("LINLI_GRPC_TLS_CERT", self.cert_file),
                           ("LINLI_GRPC_TLS_KEY", self.key_file)):
            if path and not Path(path).is_file():
                raise TlsConfigError(f"{name}={path}: no such file")

    # -- servers ---------------------------------------------------------------------------------

    def server_credentials(self, *, client_auth: bool) -> grpc.ServerCredentials:
        """TLS for a server's port: this certificate, reloaded when its files change; with
        `client_auth`, clients must present a certificate the CA signed."""
        if not self.serves_tls:
            raise TlsConfigError("a TLS listener needs LINLI_GRPC_TLS_CERT and LINLI_GRPC_TLS_KEY")
        if client_auth and not self.ca_file:
            raise TlsConfigError("client certificates are checked against LINLI_GRPC_TLS_CA: set it")
        files = _CertificateFiles(self, client_auth)
        return grpc.dynamic_ssl_server_credentials(files.load(), files.changed,
                                                   require_client_authentication=client_auth)

    # -- clients ---------------------------------------------------------------------------------

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Trust the CA alone; present this certificate when a server asks for one."""
        if not self.trusts:
            raise TlsConfigError("a TLS channel needs the CA to trust: LINLI_GRPC_TLS_CA (or --ca)")
        key = Path(self.key_file).read_bytes() if self.serves_tls else None
        chain = Path(self.cert_file).read_bytes() if self.serves_tls else None
        return grpc.ssl_channel_credentials(Path(self.ca_file).read_bytes(), key, chain)

    def channel_options(self, addresses: str) -> list[tuple[str, Any]]:
        """Options a TLS channel to `addresses` needs: a list of replicas (`ipv4:a,b`) has no host
        name of its own, so the certificate is checked against the first one's host (replicas of
        one service share their name and certificate)."""
        parts = [a.strip() for a in addresses.split(",") if a.strip()]
        if len(parts) > 1:
            return [("grpc.ssl_target_name_override", parts[0].rsplit(":", 1)[0])]
        return []

    def sync_channel(self, address: str, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
        """A blocking channel to one address (probes, start-up waits, tests), TLS when trusted."""
        if self.trusts:
            return grpc.secure_channel(address, self.channel_credentials(),
                                       options=[*options, *self.channel_options(address)])
        return grpc.insecure_channel(address, options=list(options))

    def as_env(self) -> dict[str, str]:
        """The settings that give a process this configuration (LINLI_GRPC_*)."""
        return {CA_ENV: self.ca_file, "LINLI_GRPC_TLS_CERT": self.cert_file, "LINLI_GRPC_TLS_KEY": self.key_file,
                "LINLI_GRPC_MTLS": "true" if self.mtls else "false"}


PLAINTEXT = GrpcTls()


class _CertificateFiles:
    """The fetcher gRPC calls at every handshake: a new configuration when the certificate, key
    or CA changed on disk (by modification time and size), else None (keep the current one). A
    file half-written at that instant fails to load and is tried again at the next handshake."""

    def __init__(self, tls: GrpcTls, client_auth: bool) -> None:
        self.tls = tls
        self.paths = [Path(tls.cert_file), Path(tls.key_file), *([Path(tls.ca_file)] if client_auth else [])]
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path in self.paths:
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    def load(self) -> Any:
        ca = Path(self.tls.ca_file).read_bytes() if len(self.paths) == 3 else None
        pair = (Path(self.tls.key_file).read_bytes(), Path(self.tls.cert_file).read_bytes())
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)

    def changed(self) -> Any:
        try:
            stamp = self._stamp()
            if stamp == self.stamp:
                return None
            config = self.load()
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("certificate files unreadable; serving the previous certificate", extra={"error": repr(exc)})
            return None
        self.stamp = stamp
        log.info("certificate reloaded", extra={"cert": self.tls.cert_file})
        return config


def client_trust(ca: str | Path | None = None, *, cwd: Path | None = None) -> GrpcTls:
    """What a command-line client trusts: `ca` (its --ca option); else LINLI_GRPC_TLS_CA (set but
    empty: plaintext, on purpose); else `make run`'s CA, var/tls/ca.pem under `cwd` (the current
    folder), when it exists; else plaintext. LINLI_GRPC_TLS_CERT/_KEY, when set, are presented to
    servers that ask (mTLS) — else, beside make run's CA, its operator certificate if there is
    one (`linli platform run --mtls` makes it)."""
    cert, key = os.environ.get("LINLI_GRPC_TLS_CERT", ""), os.environ.get("LINLI_GRPC_TLS_KEY", "")
    if ca:
        chosen = str(ca)
    elif CA_ENV in os.environ:
        chosen = os.environ[CA_ENV]
    else:
        local = (cwd or Path.cwd()) / LOCAL_CA
        chosen = str(local) if local.is_file() else ""
        operator = local.with_name(f"{LOCAL_OPERATOR}.pem"), local.with_name(f"{LOCAL_OPERATOR}-key.pem")
        if chosen and not cert and operator[0].is_file() and operator[1].is_file():
            cert, key = str(operator[0]), str(operator[1])
    tls = GrpcTls(chosen, cert, key)
    tls.check()
    return tls
