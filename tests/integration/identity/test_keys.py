"""Signing keys over time: rotation with overlap seen by a service verifying through the JWKS
over HTTP, dropping once the old key's tokens have expired, encryption at rest, and a second
replica picking up a rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from linli_identity.keys import SIGNING_LAG, KeyRing
from linli_identity.tables import SigningKey

from linli_runtime.clock import ManualClock
from linli_runtime.errors import Unauthenticated
from linli_runtime.models import table
from linli_runtime.oidc import RemoteJwks, TokenVerifier

from .conftest import Identity


async def test_rotation_keeps_the_old_key_until_its_tokens_expire_then_drops_it(identity: Identity) -> None:
    account = await identity.person("轮换", "+8613600000001")
    verifier = TokenVerifier(issuer=identity.issuer, clock=identity.clock,
                             keys=RemoteJwks(f"{identity.issuer}/jwks.json", clock=identity.clock,
                                             min_refresh_seconds=0))
    old_token = await identity.token(account)
    old_kid = identity.app.keys.signing_key()[0]
    await verifier.verify(old_token)
    _, retired = await identity.app.keys.rotate()
    assert retired is not None and retired.kid == old_kid
    new_token = await identity.token(account)
    assert identity.app.keys.signing_key()[0] != old_kid
    await verifier.verify(new_token)  # an unknown kid: the verifier refetched the JWKS
    await verifier.verify(old_token)  # the old key is still published
    kids = lambda: [k["kid"] for k in identity.app.keys.jwks()["keys"]]  # noqa: E731
    assert old_kid in kids()
    lifetime = timedelta(seconds=identity.settings.access_token_ttl_seconds)
    before_drop = ManualClock(identity.clock.now())
    identity.clock.advance(lifetime - timedelta(seconds=1))
    await TokenVerifier(issuer=identity.issuer, clock=identity.clock, keys=RemoteJwks(
        f"{identity.issuer}/jwks.json", clock=identity.clock)).verify(old_token)  # accepted to its last second
    identity.clock.advance(SIGNING_LAG + timedelta(seconds=1))  # every token the old key signed has expired
    assert kids() == [identity.app.keys.signing_key()[0]]
    fresh = TokenVerifier(issuer=identity.issuer, clock=identity.clock,
                          keys=RemoteJwks(f"{identity.issuer}/jwks.json", clock=identity.clock))
    with pytest.raises(Unauthenticated):
        await fresh.verify(old_token)
    # Refused for its key too, not only its age: a verifier whose clock still holds the token
    # valid finds its kid in the JWKS no more.
    lagging = TokenVerifier(issuer=identity.issuer, clock=before_drop,
                            keys=RemoteJwks(f"{identity.issuer}/jwks.json", clock=before_drop))
    with pytest.raises(Unauthenticated, match="does not publish"):
        await lagging.verify(old_token)
    await identity.app.keys.maintain()
    async with identity.app.db.session() as session:
        conn = await session.connection()
        pem = (await conn.execute(sa.select(table(SigningKey).c.private_pem)
                                  .where(table(SigningKey).c.kid == old_kid))).scalar()
    assert pem == b""  # a dropped key's private part is erased


async def test_keys_are_encrypted_at_rest_and_a_second_replica_follows_a_rotation(database_url: str,
                                                                                  tmp_path: Path) -> None:
    from linli_identity.app import MIGRATIONS

    from linli_runtime.clock import ManualClock
    from linli_runtime.db import Database
    from linli_runtime.migrations import upgrade

    clock = ManualClock()
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        one = KeyRing(db, clock, token_lifetime=timedelta(minutes=10), rotation_period=timedelta(days=30),
                      encryption_key="correct horse battery staple")
        two = KeyRing(db, clock, token_lifetime=timedelta(minutes=10), rotation_period=timedelta(days=30),
                      encryption_key="correct horse battery staple")
        await one.ensure_active()
        await two.ensure_active()
        assert one.signing_key()[0] == two.signing_key()[0]
        async with db.session() as session:
            conn = await session.connection()
            stored = (await conn.execute(sa.select(table(SigningKey)))).one()
        assert stored.encrypted and stored.private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        await one.rotate()
        assert two.signing_key()[0] != one.signing_key()[0]
        await two.maintain()  # the background reload
        assert two.signing_key()[0] == one.signing_key()[0]
        # Time passes: the key is rotated when it is rotation_period old.
        clock.advance(days=31)
        before = one.signing_key()[0]
        await one.maintain()
        assert one.signing_key()[0] != before
        wrong = KeyRing(db, clock, token_lifetime=timedelta(minutes=10), rotation_period=timedelta(days=30),
                        encryption_key="wrong")
        with pytest.raises(Exception):  # noqa: B017 — a wrong key-encryption key cannot load the key
            await wrong.reload()
    finally:
        await db.dispose()
