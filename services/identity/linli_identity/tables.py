"""identity's tables, each declared once as a SQLModel model on the service's own registry.

Secrets are never stored as given: refresh tokens, authorization and device codes, SMS codes,
session ids and client secrets are kept as SHA-256 digests (they are long random strings, or
short-lived and attempt-limited codes, so a plain digest suffices: nothing to brute-force
offline in time). Signing keys' private parts are encrypted when a key-encryption key is set.
Nothing about grants is ever deleted: revoking fills in `revoked_*`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

UTC_DATETIME = sa.DateTime(timezone=True)


class IdentityTable(SQLModel, registry=registry()):
    pass


def _time(nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(UTC_DATETIME, nullable=nullable, index=index)


class Account(IdentityTable, table=True):
    __tablename__ = "identity_account"
    id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    # E.164; unique when set (NULLs do not collide in a unique constraint).
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(20), nullable=True, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # person | service
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # active | disabled
    created_at: datetime = Field(sa_column=_time())
    # Who created it: an account id, "signup" (the person, at first sign-in), "bootstrap", "provisioning".
    created_by: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    disabled_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    disable_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))


class RoleGrant(IdentityTable, table=True):
    __tablename__ = "identity_grant"
    __table_args__ = (sa.Index("ix_identity_grant_scope", "scope"),)
    # Grants list oldest first: the order they were given in, which random ids do not keep.
    seq: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    account_id: str = Field(sa_column=sa.Column(sa.String(32), sa.ForeignKey("identity_account.id"),
                                                nullable=False, index=True))
    role: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    scope: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    granted_by: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    granted_at: datetime = Field(sa_column=_time())
    revoked_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    revoke_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))


class SigningKey(IdentityTable, table=True):
    __tablename__ = "identity_signing_key"
    # Creation order (kids carry the time, but two keys may be made within one tick of the clock).
    seq: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=True))
    kid: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    algorithm: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # The public JWK as JSON (what the JWKS publishes).
    public_jwk: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # PKCS#8 PEM of the private key; encrypted with the key-encryption key when `encrypted`.
    private_pem: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    encrypted: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    created_at: datetime = Field(sa_column=_time())
    # Set when a newer key took over signing; the key stays in the JWKS until `drop_after`.
    retired_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    drop_after: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class OAuthClient(IdentityTable, table=True):
    __tablename__ = "identity_client"
    client_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    # SHA-256 of the secret for confidential clients; NULL for public ones (the CLI).
    secret_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    # JSON lists.
    redirect_uris: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    grant_types: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The service account a client-credentials client acts as (its tokens' `sub`).
    account_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    created_at: datetime = Field(sa_column=_time())


class RefreshToken(IdentityTable, table=True):
    __tablename__ = "identity_refresh_token"
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    # Every token rotated from one sign-in shares its family: a reused token revokes them all.
    family_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    account_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    client_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    scope: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    issued_at: datetime = Field(sa_column=_time())
    expires_at: datetime = Field(sa_column=_time())
    used_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    revoke_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))


class AuthorizationCode(IdentityTable, table=True):
    __tablename__ = "identity_authorization_code"
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    client_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    account_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    redirect_uri: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    code_challenge: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    scope: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    nonce: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    expires_at: datetime = Field(sa_column=_time())
    used_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class DeviceCode(IdentityTable, table=True):
    __tablename__ = "identity_device_code"
    device_code_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    # What the person types at /device (stored without its dash, upper case).
    user_code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    client_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    scope: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    # pending | approved | denied | used
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    account_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    interval_seconds: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(sa_column=_time())
    expires_at: datetime = Field(sa_column=_time())
    last_polled_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class SmsChallenge(IdentityTable, table=True):
    __tablename__ = "identity_sms_challenge"
    id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    phone: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, index=True))
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(sa_column=_time())
    expires_at: datetime = Field(sa_column=_time())
    attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    consumed_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class RateEvent(IdentityTable, table=True):
    """One counted action (an SMS code sent) under a key (`phone:+86…`, `address:203.0.113.7`):
    limits are counts of rows in a window, so they hold across replicas."""

    __tablename__ = "identity_rate_event"
    __table_args__ = (sa.Index("ix_identity_rate_event_key_at", "key", "at"),)
    id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=True))
    key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    at: datetime = Field(sa_column=_time())


class WebSession(IdentityTable, table=True):
    """The issuer's own browser session: anonymous (a CSRF token for the sign-in form) until a
    phone and code are confirmed, then signed in as an account."""

    __tablename__ = "identity_web_session"
    id_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    csrf_token: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    account_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    created_at: datetime = Field(sa_column=_time())
    expires_at: datetime = Field(sa_column=_time(index=True))


class HouseholdClaim(IdentityTable, table=True):
    """An owner's request to be bound to a unit (household_claims.py). Decided once: pending →
    approved (with the `resident` grant it gave) or rejected (with the reason the owner sees)."""

    __tablename__ = "identity_household_claim"
    __table_args__ = (
        sa.Index("ix_identity_household_claim_household", "household_path"),
        sa.Index("ix_identity_household_claim_account", "account_id", "created_at"),
        # One pending claim per account and unit, even when two requests race.
        sa.Index("ux_identity_household_claim_pending", "account_id", "household_path", unique=True,
                 sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'")),
    )
    # Claims list oldest first (random ids keep no order).
    seq: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    account_id: str = Field(sa_column=sa.Column(sa.String(32), sa.ForeignKey("identity_account.id"),
                                                nullable=False))
    household_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    register_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    note: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # pending | approved | rejected
    created_at: datetime = Field(sa_column=_time())
    decided_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    decided_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    grant_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
