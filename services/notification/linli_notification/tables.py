"""The service's tables, each declared once as a SQLModel model on the service's own registry.

The models are the types of the rows the domain modules read (`typed`, `typed_all`); the Core
tables below (`table(Model)`) build the statements. Times are stored timezone-aware in UTC;
SQLite hands them back naive, so readers go through `linli_runtime.times.as_utc`. Lists (helper
ids, suggestions, opening hours, channels) are JSON text: they are read and written whole.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_runtime.models import table

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


class NotificationTable(SQLModel, registry=registry()):
    """Base of the service's models: their own MetaData, apart from every other service's."""


def _seq() -> sa.Column[int]:
    # A surrogate key in creation order: lists page by it and "the newer shift wins" uses it.
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


def _text(length: int, *, default: str | None = None, nullable: bool = False, index: bool = False) -> sa.Column[str]:
    return sa.Column(sa.String(length), nullable=nullable, server_default=default, index=index)


class Community(NotificationTable, table=True):
    """A community's help-desk settings (absent: the defaults in `community.Settings`)."""

    __tablename__ = "nf_community"
    path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    head_id: str = Field(default="", sa_column=_text(128, default=""))
    sla_critical_minutes: int = Field(default=10, sa_column=sa.Column(sa.Integer, nullable=False,
                                                                      server_default="10"))
    sla_high_minutes: int = Field(default=30, sa_column=sa.Column(sa.Integer, nullable=False, server_default="30"))
    sla_normal_minutes: int = Field(default=60, sa_column=sa.Column(sa.Integer, nullable=False,
                                                                    server_default="60"))
    sla_low_minutes: int = Field(default=240, sa_column=sa.Column(sa.Integer, nullable=False, server_default="240"))
    utc_offset_minutes: int = Field(default=480, sa_column=sa.Column(sa.Integer, nullable=False,
                                                                     server_default="480"))


class DutyShift(NotificationTable, table=True):
    __tablename__ = "nf_duty_shift"
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    community_path: str = Field(sa_column=_text(255, index=True))
    weekday: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))  # 1..7, 0 for a dated shift
    on_date: str | None = Field(default=None, sa_column=_text(10, nullable=True))  # YYYY-MM-DD
    start_minute: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    end_minute: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    worker_id: str = Field(sa_column=_text(128))
    backup_id: str = Field(default="", sa_column=_text(128, default=""))
    note: str = Field(default="", sa_column=_text(500, default=""))


class DutySwap(NotificationTable, table=True):
    __tablename__ = "nf_duty_swap"
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    community_path: str = Field(sa_column=_text(255, index=True))
    on_date: str = Field(sa_column=_text(10))
    from_worker_id: str = Field(sa_column=_text(128))
    to_worker_id: str = Field(sa_column=_text(128))


class Provider(NotificationTable, table=True):
    """A provider suggested beside a request (a canteen, a restaurant, a clinic)."""

    __tablename__ = "nf_provider"
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    community_path: str = Field(sa_column=_text(255, index=True))
    display_name: str = Field(sa_column=_text(200))
    category: str = Field(sa_column=_text(64))
    phone: str = Field(default="", sa_column=_text(64, default=""))
    priority: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # JSON [[weekday, open minute, close minute], …]; [] means always open.
    opening_hours: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))


class HelpRequest(NotificationTable, table=True):
    __tablename__ = "nf_help_request"
    __table_args__ = (
        sa.Index("ix_nf_help_request_community", "community_path", "seq"),
        sa.Index("ix_nf_help_request_deadline", "status", "ack_deadline"),
        sa.Index("ix_nf_help_request_household", "household_path", "seq"),
    )
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    community_path: str = Field(sa_column=_text(255))
    compound_path: str = Field(default="", sa_column=_text(255, default=""))
    # The household of the person who needs help ("" when not known): its people follow it.
    household_path: str = Field(default="", sa_column=_text(255, default=""))
    reporter_id: str = Field(sa_column=_text(128))
    reporter_role: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    on_behalf_of: str = Field(default="", sa_column=_text(200, default=""))
    contact: str = Field(default="", sa_column=_text(200, default=""))
    category: str = Field(sa_column=_text(64))
    urgency: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    assignee_id: str = Field(default="", sa_column=_text(128, default=""))
    backup_id: str = Field(default="", sa_column=_text(128, default=""))
    head_id: str = Field(default="", sa_column=_text(128, default=""))
    escalation_level: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    ack_deadline: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    resolution: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    helper_ids: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))
    # JSON [[provider id, display name, phone], …]: the providers open when last suggested (at
    # filing, when one opened while the request was open, on escalation).
    suggestions: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))
    created_at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Suggestion(NotificationTable, table=True):
    """A provider suggested for a request during one of its openings (`roster.opening_start`):
    one row per (request, provider, opening), so each opening is suggested once, however many
    sweepers look."""

    __tablename__ = "nf_suggestion"
    __table_args__ = (
        sa.UniqueConstraint("help_request_id", "provider_id", "opening_start", name="uq_nf_suggestion_opening"),
    )
    seq: int | None = Field(default=None, sa_column=_seq())
    help_request_id: str = Field(sa_column=_text(64))
    provider_id: str = Field(sa_column=_text(64))
    opening_start: datetime = Field(sa_column=sa.Column(When, nullable=False))
    suggested_at: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Transition(NotificationTable, table=True):
    """One change of a help request's status (who, when, why): its history."""

    __tablename__ = "nf_help_request_transition"
    seq: int | None = Field(default=None, sa_column=_seq())
    help_request_id: str = Field(sa_column=_text(64, index=True))
    from_status: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    to_status: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    actor_id: str = Field(sa_column=_text(128))
    at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    note: str = Field(default="", sa_column=_text(1000, default=""))
    escalation_level: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    assignee_id: str = Field(default="", sa_column=_text(128, default=""))


class FollowUp(NotificationTable, table=True):
    __tablename__ = "nf_follow_up"
    __table_args__ = (
        sa.UniqueConstraint("help_request_id", "number", name="uq_nf_follow_up_number"),
        sa.Index("ix_nf_follow_up_due", "assignee_id", "due_at"),
    )
    seq: int | None = Field(default=None, sa_column=_seq())
    help_request_id: str = Field(sa_column=_text(64))
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    day_offset: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    due_at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    assignee_id: str = Field(default="", sa_column=_text(128, default=""))
    done_at: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    done_by: str = Field(default="", sa_column=_text(128, default=""))
    note: str = Field(default="", sa_column=_text(1000, default=""))
    # Why it was done before due_at (a follow-up done early needs one); "" when done on time.
    early_reason: str = Field(default="", sa_column=_text(1000, default=""))


class Thanks(NotificationTable, table=True):
    __tablename__ = "nf_thanks"
    seq: int | None = Field(default=None, sa_column=_seq())
    help_request_id: str = Field(sa_column=_text(64, index=True))
    kind: str = Field(sa_column=_text(32))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    from_name: str = Field(default="", sa_column=_text(200, default=""))
    recipient_ids: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))
    recorded_at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    recorded_by: str = Field(sa_column=_text(128))


class Notice(NotificationTable, table=True):
    __tablename__ = "nf_notice"
    __table_args__ = (
        # One event never gives a recipient the same notice twice (the consumer inbox already
        # applies each event once; this holds even if an event is re-published under a new id).
        sa.UniqueConstraint("event_id", "recipient_id", "kind", name="uq_nf_notice_event"),
        sa.Index("ix_nf_notice_inbox", "recipient_id", "seq"),
    )
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    recipient_id: str = Field(sa_column=_text(128))
    kind: str = Field(sa_column=_text(64))
    title: str = Field(sa_column=_text(500))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    critical: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False,
                                                              server_default=sa.false()))
    subject_resource: str = Field(default="", sa_column=_text(500, default=""))
    event_id: str = Field(sa_column=_text(64))
    org_path: str = Field(default="", sa_column=_text(255, default=""))
    created_at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))


class Delivery(NotificationTable, table=True):
    """A notice's way out over one external channel, with its attempts."""

    __tablename__ = "nf_delivery"
    __table_args__ = (
        sa.UniqueConstraint("notice_id", "channel", name="uq_nf_delivery_channel"),
        sa.Index("ix_nf_delivery_due", "state", "next_attempt_at"),
    )
    seq: int | None = Field(default=None, sa_column=_seq())
    notice_id: str = Field(sa_column=_text(64))
    channel: str = Field(sa_column=_text(32))
    address: str = Field(sa_column=_text(200))
    state: str = Field(sa_column=_text(16))  # pending, deferred, sent, failed
    provider: str = Field(default="", sa_column=_text(64, default=""))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    last_error: str = Field(default="", sa_column=_text(1000, default=""))
    next_attempt_at: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))


class Preferences(NotificationTable, table=True):
    __tablename__ = "nf_preferences"
    recipient_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    language: str = Field(default="zh", sa_column=_text(8, default="zh"))
    channels: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))
    phone: str = Field(default="", sa_column=_text(64, default=""))
    wechat_openid: str = Field(default="", sa_column=_text(128, default=""))
    quiet_start: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))  # local minute
    quiet_end: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    utc_offset_minutes: int = Field(default=480, sa_column=sa.Column(sa.Integer, nullable=False,
                                                                     server_default="480"))


class VolunteerAccount(NotificationTable, table=True):
    """Which account a community's volunteer is (volunteer-points' `points.volunteer.account_bound`,
    kept here): notices about a volunteer — awards, visit reminders, redemptions, thanks — go to
    the account's inbox, because a volunteer id is unique only within its community."""

    __tablename__ = "nf_volunteer_account"
    community_path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    account_id: str = Field(sa_column=_text(128))


class WorkerGrant(NotificationTable, table=True):
    """A community worker's grant, as identity announced it (`identity.grant.granted`, removed on
    `identity.grant.revoked`): the accounts that may stand on a community's duty roster
    (`workers`). Only the roles that handle help requests are kept."""

    __tablename__ = "nf_worker_grant"
    grant_name: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))  # accounts/{a}/grants/{g}
    account_id: str = Field(sa_column=_text(128, index=True))
    role: str = Field(sa_column=_text(64))
    scope: str = Field(sa_column=_text(255))


class AccountStanding(NotificationTable, table=True):
    """Whether identity last announced an account disabled (`identity.account.disabled|enabled`):
    a disabled account's worker grants stand, but it is on nobody's duty (`workers`).
    `changed_at` is the event's, so a redelivered older event never undoes a newer one."""

    __tablename__ = "nf_account_standing"
    account_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    disabled: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    changed_at: datetime = Field(sa_column=sa.Column(When, nullable=False))


class Subscription(NotificationTable, table=True):
    """A recipient hears about an org unit and everything below it (disclosures)."""

    __tablename__ = "nf_subscription"
    __table_args__ = (sa.Index("ix_nf_subscription_path", "org_path"),)
    recipient_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    org_path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))


class OneTimeCode(NotificationTable, table=True):
    """One one-time code sent by SMS (sign-in by phone), for audit: for whom (masked), why, at
    whose request, through which provider, with what outcome — never the code. (Not even its
    hash: a 6-digit code's hash is the code to anyone who tries a million, and it is valid for
    minutes after it is written.) `request_id` is the caller's (identity's challenge), unique
    per caller: a retry gets the first answer; `fingerprint` is what was asked, without the code
    or the full number (`linli_runtime.transactions.fingerprint` of the masked number, purpose,
    locale and lifetime)."""

    __tablename__ = "nf_one_time_code"
    __table_args__ = (sa.UniqueConstraint("requested_by", "request_id", name="uq_nf_one_time_code_request"),)
    seq: int | None = Field(default=None, sa_column=_seq())
    id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    requested_by: str = Field(sa_column=_text(128))
    client_id: str = Field(default="", sa_column=_text(128, default=""))
    request_id: str = Field(sa_column=_text(128))
    fingerprint: str = Field(sa_column=_text(64))
    masked_phone: str = Field(sa_column=_text(32))
    purpose: str = Field(sa_column=_text(32))
    locale: str = Field(sa_column=_text(8))
    state: str = Field(sa_column=_text(16))  # sending, sent, rejected, throttled, failed
    provider: str = Field(default="", sa_column=_text(64, default=""))
    # What the providers said when they failed (the code blanked out).
    errors: str = Field(default="", sa_column=_text(1000, default=""))
    retry_after_seconds: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(When, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(When, nullable=True))


class OneTimeCodeSend(NotificationTable, table=True):
    """A code sent (or being sent) to a number, counted by the per-number limits. The number is
    kept as a SHA-256 digest, and only as long as the longest limit's window (a day): rows are
    deleted after that by the next send. (A digest of a phone number hides it from a glance,
    not from someone who tries every number — hence the day.) A send that did not go out is
    not counted: its row is deleted when it ends."""

    __tablename__ = "nf_one_time_code_send"
    seq: int | None = Field(default=None, sa_column=_seq())
    phone_digest: str = Field(sa_column=_text(64, index=True))
    record_id: str = Field(sa_column=_text(64))
    sent_at: datetime = Field(sa_column=sa.Column(When, nullable=False, index=True))


class KnownOrgUnit(NotificationTable, table=True):
    """A place down to compounds, as governance's org-unit events last described it
    (`linli_runtime.org_units`): what notification knows exists and is open."""

    __tablename__ = "nf_org_unit"
    path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    parent_path: str = Field(sa_column=_text(255))
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # linli.events.v1.OrgUnitKind
    name: str = Field(sa_column=_text(200))
    name_en: str = Field(sa_column=_text(200))
    closed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    revision: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    learned_at: datetime = Field(sa_column=sa.Column(When, nullable=False))


metadata = NotificationTable.metadata

community = table(Community)
duty_shift = table(DutyShift)
duty_swap = table(DutySwap)
provider = table(Provider)
help_request = table(HelpRequest)
suggestion = table(Suggestion)
transition = table(Transition)
follow_up = table(FollowUp)
thanks = table(Thanks)
notice = table(Notice)
delivery = table(Delivery)
preferences = table(Preferences)
subscription = table(Subscription)
one_time_code = table(OneTimeCode)
one_time_code_send = table(OneTimeCodeSend)
known_org_unit = table(KnownOrgUnit)
