"""The service's tables, each declared once as a SQLModel model on the service's own registry.

The models are the type of every row the domain modules return. The redeem path is hot, so
statements are SQLAlchemy Core built from the models' tables (the upper-case names below), not
the ORM's unit of work, and rows read back become models with `linli_runtime.models.loaded`
(no validation: the database holds them to the schema, and validating a table model costs
~200 µs a row — a page of 1,000 partners would spend a fifth of a second on it). Times are
stored timezone-aware in UTC; SQLite hands them back naive, so readers go through
`times.as_utc`. Python defaults repeat the server defaults, so a row built in memory (tests)
reads like one read back from the database.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_runtime.models import table

When = sa.DateTime(timezone=True)


class RedemptionTable(SQLModel, registry=registry()):
    """Base of partner-redemption's tables: their own MetaData, apart from other services'."""


metadata = RedemptionTable.metadata


class Partner(RedemptionTable, table=True):
    __tablename__ = "rd_partner"
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False, index=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # member_unit | signed_partner | merchant
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    display_name_en: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    state: str = Field(default="active", sa_column=sa.Column(sa.String(16), nullable=False,
                                                             server_default="active"))
    contact: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    agreement: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    placeholder: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False,
                                                                 server_default=sa.false()))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Terminal(RedemptionTable, table=True):
    __tablename__ = "rd_terminal"
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_partner.id"), nullable=False,
                                                 index=True))
    display_name: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""))
    # sha256(salt ‖ secret): secrets are 256 random bits, so a fast hash is as safe as a slow one.
    secret_salt: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    secret_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    state: str = Field(default="active", sa_column=sa.Column(sa.String(16), nullable=False,
                                                             server_default="active"))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))
    secret_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class HeldSecret(RedemptionTable, table=True):
    """The nonce a terminal secret issued under a request id is derived from, so that a retry of
    that request is shown the same secret (terminal_secrets: the secret itself is never stored).
    Deleted when the secret is replaced or the terminal revoked, and once past `expire_time`."""

    __tablename__ = "rd_held_secret"
    # sha256(caller ‖ method ‖ request id), hex.
    request_key: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    terminal_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    nonce: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    # Which key the secret was derived with (a prefix of a hash of it, not the key).
    key_id: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    expire_time: datetime = Field(sa_column=sa.Column(When, nullable=False, index=True))


class Reward(RedemptionTable, table=True):
    __tablename__ = "rd_reward"
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_partner.id"), primary_key=True))
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    stock: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # -1: unlimited
    per_volunteer_limit: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    daily_quota: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    valid_from: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    valid_until: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    # Bumped by every redeem: the row lock serialises the limit checks of one reward.
    version: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Restock(RedemptionTable, table=True):
    __tablename__ = "rd_restock"
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    reward_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    units: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class MemberCard(RedemptionTable, table=True):
    __tablename__ = "rd_member_card"
    __table_args__ = (sa.UniqueConstraint("community_path", "volunteer_id", name="uq_rd_member_card_volunteer"),)
    card_number: str = Field(sa_column=sa.Column(sa.String(8), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    display_name: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    secret: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))  # hex; codes are derived from it
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class MemberSession(RedemptionTable, table=True):
    """One row per (card, time step) ever resolved: a code works once, for one terminal."""

    __tablename__ = "rd_member_session"
    __table_args__ = (sa.UniqueConstraint("card_number", "step", name="uq_rd_member_session_code"),)
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    card_number: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    step: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    terminal_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    masked_member: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    expire_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Redemption(RedemptionTable, table=True):
    __tablename__ = "rd_redemption"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "request_id", name="uq_rd_redemption_request"),
        sa.Index("ix_rd_redemption_state", "state", "create_time"),
        sa.Index("ix_rd_redemption_member", "reward_id", "volunteer_id"),
        sa.Index("ix_rd_redemption_day", "community_path", "ledger_day"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    terminal_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    masked_member: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    reward_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    reward_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # pending | committed | voided
    void_reason: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    void_message: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False, server_default=""))
    hold_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    # Set once PlaceHold answered: from then on recovery asks the ledger instead of assuming
    # the hold was never placed (see redemptions: recovery).
    hold_placed: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False,
                                                                 server_default=sa.false()))
    transfer_id: str = Field(default="", sa_column=sa.Column(sa.String(80), nullable=False, server_default=""))
    refunded_points: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    stock_returned: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False,
                                                                    server_default=sa.false()))
    # China-time day of the ledger's POST transfer (settlement and reconciliation key on it).
    ledger_day: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False, server_default=""))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))
    commit_time: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))


class Refund(RedemptionTable, table=True):
    __tablename__ = "rd_refund"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "request_id", name="uq_rd_refund_request"),
        sa.Index("ix_rd_refund_day", "community_path", "ledger_day"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    redemption_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_redemption.id"), nullable=False,
                                                   index=True))
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    completed: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    transfer_id: str = Field(default="", sa_column=sa.Column(sa.String(80), nullable=False, server_default=""))
    ledger_day: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False, server_default=""))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class DaySummary(RedemptionTable, table=True):
    """A community's day of redemptions summed up once it can no longer change and balanced with
    the ledger (settlement.py: `summarize`): the city dashboard's sealed days read from here, a
    row per merchant with redemptions or refunds, instead of every redemption of the week again.
    The row with merchant_id "" marks the (community, day) as summed up, merchants or none."""

    __tablename__ = "rd_day_summary"
    community_path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    ledger_day: str = Field(sa_column=sa.Column(sa.String(10), primary_key=True))
    merchant_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    redemption_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    redeemed_points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    refund_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    refunded_points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


# -- community: rotating duty of member units, needs, resources, projects -----------------------

class DutyRotation(RedemptionTable, table=True):
    __tablename__ = "rd_duty_rotation"
    community_path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    partner_ids: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # comma-separated, in duty order
    start_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    period_days: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    # Swaps belong to one version of the rotation (setting a new rotation forgets them).
    version: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))


class DutySwap(RedemptionTable, table=True):
    __tablename__ = "rd_duty_swap"
    __table_args__ = (sa.UniqueConstraint("community_path", "request_id", name="uq_rd_duty_swap_request"),)
    seq: int | None = Field(default=None, sa_column=sa.Column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    version: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    first_index: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    second_index: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class Need(RedemptionTable, table=True):
    __tablename__ = "rd_need"
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False, index=True))
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    raised_by: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))
    # What kind of help (a slug, e.g. elderly-meals): resources of the same category match it.
    category: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    # When it came in (may be before it was recorded); NULL only on needs recorded before rd0005,
    # whose receive time is their create time.
    receive_time: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    # The member unit on duty when it came in (the rotating duty); "" when there was no rotation.
    duty_partner_id: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False,
                                                                  server_default=""))
    state: str = Field(default="open", sa_column=sa.Column(sa.String(16), nullable=False,
                                                           server_default="open"))  # open | matched | met


class Resource(RedemptionTable, table=True):
    __tablename__ = "rd_resource"
    __table_args__ = (sa.Index("ix_rd_resource_category", "category", "community_path"),)
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False, index=True))
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    partner_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_partner.id"), nullable=False))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))
    category: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    # Availability: China-time days `YYYY-MM-DD` ("" open-ended), ISO weekdays served
    # (comma-separated 1–7, "" every day), and how many live projects it can serve (0: no limit).
    available_from: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False, server_default=""))
    available_until: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False,
                                                                 server_default=""))
    weekdays: str = Field(default="", sa_column=sa.Column(sa.String(16), nullable=False, server_default=""))
    capacity: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class Project(RedemptionTable, table=True):
    __tablename__ = "rd_project"
    __table_args__ = (sa.UniqueConstraint("community_path", "request_id", name="uq_rd_project_request"),)
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False, index=True))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    need_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_need.id"), nullable=False))
    # As given at creation (never changed; rd_project_resource indexes them).
    resource_ids: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # comma-separated
    owner: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # open | in_progress | done | cancelled
    outcome: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    create_time: datetime = Field(sa_column=sa.Column(When, nullable=False))
    close_time: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    # The last change of state (NULL only on projects made before rd0005: their create time).
    update_time: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))


class ProjectResource(RedemptionTable, table=True):
    """Which resources a project uses: how many live projects a resource serves (its capacity)."""

    __tablename__ = "rd_project_resource"
    project_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_project.id"), primary_key=True))
    resource_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_resource.id"), primary_key=True,
                                                 index=True))


class ProjectChange(RedemptionTable, table=True):
    """A project's history: every change of state, who made it, when and why (append-only)."""

    __tablename__ = "rd_project_change"
    seq: int | None = Field(default=None, sa_column=sa.Column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True))
    project_id: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("rd_project.id"), nullable=False,
                                                index=True))
    from_state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # "" at creation
    to_state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    actor: str = Field(default="", sa_column=sa.Column(sa.String(128), nullable=False, server_default=""))
    change_time: datetime = Field(sa_column=sa.Column(When, nullable=False))


class KnownOrgUnit(RedemptionTable, table=True):
    """A place down to compounds, as governance's org-unit events last described it
    (`linli_runtime.org_units`): what partner-redemption knows exists and is open."""

    __tablename__ = "rd_org_unit"
    path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    parent_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # linli.events.v1.OrgUnitKind
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    name_en: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    closed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    revision: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    learned_at: datetime = Field(sa_column=sa.Column(When, nullable=False))


# Core tables for statements (the same objects as `Model.__table__`, typed as `sa.Table`).

class RateCount(RedemptionTable, table=True):
    """How many calls one limited thing made in one fixed window (pos_guard, pos_limits): every
    replica counts in the same row, by one atomic upsert. A key keeps only its current window's
    row (older ones go when a new window starts), so the table holds at most one row per
    terminal or member and limit."""

    __tablename__ = "rd_rate_count"
    key: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    window_no: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class Lockout(RedemptionTable, table=True):
    """A terminal locked out of resolving member codes until `until` (too many wrong codes)."""

    __tablename__ = "rd_lockout"
    key: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    until: datetime = Field(sa_column=sa.Column(When, nullable=False))


PARTNERS = table(Partner)
TERMINALS = table(Terminal)
HELD_SECRETS = table(HeldSecret)
REWARDS = table(Reward)
RESTOCKS = table(Restock)
MEMBER_CARDS = table(MemberCard)
MEMBER_SESSIONS = table(MemberSession)
REDEMPTIONS = table(Redemption)
REFUNDS = table(Refund)
DAY_SUMMARIES = table(DaySummary)
DUTY_ROTATIONS = table(DutyRotation)
DUTY_SWAPS = table(DutySwap)
NEEDS = table(Need)
RESOURCES = table(Resource)
PROJECTS = table(Project)
PROJECT_RESOURCES = table(ProjectResource)
PROJECT_CHANGES = table(ProjectChange)
RATE_COUNTS = table(RateCount)
LOCKOUTS = table(Lockout)
KNOWN_ORG_UNITS = table(KnownOrgUnit)
