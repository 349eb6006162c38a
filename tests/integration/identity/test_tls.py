"""The issuer serves HTTPS itself when given a certificate and key, and says so in its URL; a
verifier that trusts the CA fetches the JWKS over TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from linli_identity.app import create_app
from linli_identity.sms import DevFileSmsSender

from linli_runtime.clock import ManualClock
from linli_runtime.oidc import RemoteJwks, TokenVerifier
from linli_runtime.processes import NatsServer

from .conftest import SERVICES, settings_for


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "linli test issuer")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "issuer.pem", directory / "issuer.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_the_issuer_serves_https(tmp_path: Path, nats_server: NatsServer) -> None:
    cert, key = self_signed(tmp_path)
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'id.db'}", nats_server.url, tmp_path,
                            issuer_tls_cert_file=str(cert), issuer_tls_key_file=str(key))
    clock = ManualClock(dt.datetime.now(dt.UTC))
    app = create_app(settings, clock=clock, sms=DevFileSmsSender(tmp_path / "sms"), services=SERVICES)
    await app.start()
    try:
        assert app.issuer_url.startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(verify=str(cert)) as client:
            discovery = (await client.get(f"{app.issuer_url}/.well-known/openid-configuration")).json()
        assert discovery["issuer"] == app.issuer_url
        account = await _person(app)
        async with app.db.session() as session:
            subject = await app.oauth.subject(session, account)
        token = app.tokens.access_token(subject, client_id="test", scope="").token
        verifier = TokenVerifier(issuer=app.issuer_url, clock=clock,
                                 keys=RemoteJwks.from_issuer(app.issuer_url, clock=clock, ca_file=str(cert)))
        assert (await verifier.verify(token)).subject == account
        async with httpx.AsyncClient(verify=True) as untrusting:
            try:
                await untrusting.get(f"{app.issuer_url}/jwks.json")
                raise AssertionError("a client that does not trust the CA must fail the handshake")
            except httpx.ConnectError:
                pass
    finally:
        await app.stop(grace=1)


async def _person(app: object) -> str:
    from linli_identity.accounts import PERSON

    async with app.db.transaction() as session:  # type: ignore[attr-defined]
        account = await app.accounts.create(session, display_name="TLS", phone=None, kind=PERSON,  # type: ignore[attr-defined]
                                            created_by="test")
    return str(account.id)
