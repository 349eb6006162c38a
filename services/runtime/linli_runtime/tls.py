"""A local certificate authority and the certificates issued from it (`cryptography`), for the
embedded default (`make run`, `make run-cluster`: var/tls) and for Docker Compose (the one-shot
`tls-init` job writes into the `tls` volume). Kubernetes uses cert-manager instead
(deploy/k8s/base/tls).

    pki = LocalPki(Path("var/tls"))
    pki.ensure(server_hosts=["localhost", "127.0.0.1"], clients=["volunteer-points"])
    pki.ca_file                      # var/tls/ca.pem: what clients trust
    pki.server("nats")               # CertPair(cert=var/tls/nats.pem, key=var/tls/nats-key.pem)
    client_context(pki.ca_file)      # an ssl.SSLContext that verifies the server against the CA

Files are PEM: `ca.pem` (+ `ca-key.pem`, 0600), `<name>.pem` and `<name>-key.pem` (0600). Server
certificates carry the hosts as DNS / IP subject alternative names and serve both ends of a TLS
link (serverAuth + clientAuth: NATS routes dial each other with them); client certificates name
their holder in the common name and a DNS SAN (a service's identity for mTLS, e.g. gRPC).
`ensure` is idempotent: it keeps what is valid for long enough and covers the hosts asked for,
and issues the rest. Keys are ECDSA P-256.

`python -m linli_runtime.tls DIR --server nats=nats-1,nats-2,localhost --client volunteer-points`
does the same from a shell (the Compose job); `--service volunteer-points=volunteer-points,localhost`
issues a server certificate like `--server` whose key, like a client's, is handed to `--owner`
(a service's gRPC certificate, read by the non-root service).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "Linli local CA"
CA_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=825)
# Reissue a certificate that would expire within this margin.
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path

    def pem(self) -> tuple[bytes, bytes]:
        """(private key, certificate chain) as bytes, as grpc.ssl_*_credentials take them."""
        return self.key.read_bytes(), self.cert.read_bytes()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.chmod(0o644)
    tmp.replace(path)


def _san(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _covers(cert: x509.Certificate, hosts: Iterable[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= present


def _fresh(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > now


class LocalPki:
    """The CA and certificates under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca-key.pem"

    def pair(self, name: str) -> CertPair:
        return CertPair(self.directory / f"{name}.pem", self.directory / f"{name}-key.pem")

    server = pair
    client = pair

    def ensure(self, *, servers: dict[str, Sequence[str]] | None = None, clients: Iterable[str] = (),
               now: datetime | None = None) -> LocalPki:
        """The CA, a server certificate per name in `servers` (name → hosts it answers for) and a
        client certificate per name in `clients`; existing ones are kept while valid."""
        now = now or datetime.now(UTC)
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = self._ensure_ca(now)
        for name, hosts in (servers or {}).items():
            self._ensure_leaf(name, list(hosts), ca_cert, ca_key, now, server=True)
        for name in clients:
            self._ensure_leaf(name, [name], ca_cert, ca_key, now, server=False)
        return self

    def _ensure_ca(self, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self.ca_file.exists() and self.ca_key_file.exists():
            cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            key = serialization.load_pem_private_key(self.ca_key_file.read_bytes(), None)
            if _fresh(cert, now) and isinstance(key, ec.EllipticCurvePrivateKey):
                return cert, key
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Linli"),
                          x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.ca_key_file, key)
        _write_cert(self.ca_file, cert)
        # A new CA invalidates everything it did not sign: leaves are reissued below.
        for old in self.directory.glob("*.pem"):
            if old not in (self.ca_file, self.ca_key_file):
                old.unlink()
        return cert, key

    def _ensure_leaf(self, name: str, hosts: list[str], ca_cert: x509.Certificate,
                     ca_key: ec.EllipticCurvePrivateKey, now: datetime, *, server: bool) -> CertPair:
        pair = self.pair(name)
        if pair.cert.exists() and pair.key.exists():
            cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
            if cert.issuer == ca_cert.subject and _fresh(cert, now) and _covers(cert, hosts):
                return pair
        key = _key()
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server \
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Linli"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + LEAF_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(pair.key, key)
        _write_cert(pair.cert, cert)
        return pair


def client_context(ca_file: str | Path, cert: str | Path | None = None,
                   key: str | Path | None = None) -> ssl.SSLContext:
    """A TLS client context that trusts `ca_file` (and nothing else) and checks the host name;
    with `cert`/`key`, it presents them when the server asks (mTLS)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def server_context(pair: CertPair, ca_file: str | Path | None = None) -> ssl.SSLContext:
    """A TLS server context with `pair`; with `ca_file`, clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pair.cert), str(pair.key))
    if ca_file is not None:
        context.load_verify_locations(str(ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linli_runtime.tls",
                                     description="Create or renew a local CA and certificates in DIR.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--server", action="append", default=[], metavar="NAME=HOST,HOST",
                        help="a server certificate NAME for these hosts (DNS names or IP addresses)")
    parser.add_argument("--service", action="append", default=[], metavar="NAME=HOST,HOST",
                        help="a service's gRPC certificate (server and client use) for these hosts, its key "
                             "handed to --owner")
    parser.add_argument("--client", action="append", default=[], metavar="NAME", help="a client certificate")
    parser.add_argument("--owner", metavar="UID:GID",
                        help="hand the keys of --client and --service certificates to this user (a non-root "
                             "service reading them)")
    args = parser.parse_args(argv)
    servers: dict[str, Sequence[str]] = {}
    for flag, items in (("--server", args.server), ("--service", args.service)):
        for item in items:
            name, _, hosts = item.partition("=")
            if not name or not hosts:
                parser.error(f"{flag} {item!r}: expected NAME=HOST[,HOST…]")
            servers[name] = [h.strip() for h in hosts.split(",") if h.strip()]
    pki = LocalPki(args.directory).ensure(servers=servers, clients=args.client)
    if args.owner:
        uid, _, gid = args.owner.partition(":")
        owned = [*args.client, *(item.partition("=")[0] for item in args.service)]
        for name in owned:
            pair = pki.pair(name)
            for path in (pair.cert, pair.key):
                os.chown(path, int(uid), int(gid or uid))
    print(f"CA {pki.ca_file}; servers: {', '.join(servers) or '-'}; clients: {', '.join(args.client) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
