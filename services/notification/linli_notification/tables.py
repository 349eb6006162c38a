"""The service's tables (SQLAlchemy Core). Times are stored timezone-aware in UTC; SQLite hands
them back naive, so readers go through `times.as_utc`."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _seq() -> sa.Column[int]:
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


community = sa.Table(
    "nf_community", metadata,
    sa.Column("path", sa.String(255), primary_key=True),
    sa.Column("head_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("sla_critical_minutes", sa.Integer, nullable=False, server_default="10"),
    sa.Column("sla_high_minutes", sa.Integer, nullable=False, server_default="30"),
    sa.Column("sla_normal_minutes", sa.Integer, nullable=False, server_default="60"),
    sa.Column("sla_low_minutes", sa.Integer, nullable=False, server_default="240"),
    sa.Column("utc_offset_minutes", sa.Integer, nullable=False, server_default="480"),
)

duty_shift = sa.Table(
    "nf_duty_shift", metadata,
    _seq(),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("weekday", sa.Integer, nullable=False),  # 1..7, 0 for a dated shift
    sa.Column("on_date", sa.String(10), nullable=True),
    sa.Column("start_minute", sa.Integer, nullable=False),
    sa.Column("end_minute", sa.Integer, nullable=False),
    sa.Column("worker_id", sa.String(128), nullable=False),
    sa.Column("backup_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
)

duty_swap = sa.Table(
    "nf_duty_swap", metadata,
    _seq(),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("on_date", sa.String(10), nullable=False),
    sa.Column("from_worker_id", sa.String(128), nullable=False),
    sa.Column("to_worker_id", sa.String(128), nullable=False),
)

provider = sa.Table(
    "nf_provider", metadata,
    _seq(),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("phone", sa.String(64), nullable=False, server_default=""),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("opening_hours", sa.Text, nullable=False, server_default="[]"),  # JSON [[weekday, open, close]]
)

help_request = sa.Table(
    "nf_help_request", metadata,
    _seq(),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("compound_path", sa.String(255), nullable=False, server_default=""),
    sa.Column("reporter_id", sa.String(128), nullable=False),
    sa.Column("reporter_role", sa.Integer, nullable=False),
    sa.Column("on_behalf_of", sa.String(200), nullable=False, server_default=""),
    sa.Column("contact", sa.String(200), nullable=False, server_default=""),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("urgency", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("assignee_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("backup_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("head_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ack_deadline", When, nullable=True),
    sa.Column("resolution", sa.Text, nullable=False, server_default=""),
    sa.Column("helper_ids", sa.Text, nullable=False, server_default="[]"),
    sa.Column("suggestions", sa.Text, nullable=False, server_default="[]"),
    sa.Column("created_at", When, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Index("ix_nf_help_request_community", "community_path", "seq"),
    sa.Index("ix_nf_help_request_deadline", "status", "ack_deadline"),
)

transition = sa.Table(
    "nf_help_request_transition", metadata,
    _seq(),
    sa.Column("help_request_id", sa.String(64), nullable=False, index=True),
    sa.Column("from_status", sa.Integer, nullable=False),
    sa.Column("to_status", sa.Integer, nullable=False),
    sa.Column("actor_id", sa.String(128), nullable=False),
    sa.Column("at", When, nullable=False),
    sa.Column("note", sa.String(1000), nullable=False, server_default=""),
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("assignee_id", sa.String(128), nullable=False, server_default=""),
)

follow_up = sa.Table(
    "nf_follow_up", metadata,
    _seq(),
    sa.Column("help_request_id", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("day_offset", sa.Integer, nullable=False),
    sa.Column("due_at", When, nullable=False),
    sa.Column("assignee_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("done_at", When, nullable=True),
    sa.Column("done_by", sa.String(128), nullable=False, server_default=""),
    sa.Column("note", sa.String(1000), nullable=False, server_default=""),
    sa.UniqueConstraint("help_request_id", "number", name="uq_nf_follow_up_number"),
    sa.Index("ix_nf_follow_up_due", "assignee_id", "due_at"),
)

thanks = sa.Table(
    "nf_thanks", metadata,
    _seq(),
    sa.Column("help_request_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("from_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("recipient_ids", sa.Text, nullable=False, server_default="[]"),
    sa.Column("recorded_at", When, nullable=False),
    sa.Column("recorded_by", sa.String(128), nullable=False),
)

notice = sa.Table(
    "nf_notice", metadata,
    _seq(),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("recipient_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("critical", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("subject_resource", sa.String(500), nullable=False, server_default=""),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("org_path", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", When, nullable=False),
    sa.Column("read_at", When, nullable=True),
    # One event never gives a recipient the same notice twice (the consumer inbox already
    # applies each event once; this holds even if an event is re-published under a new id).
    sa.UniqueConstraint("event_id", "recipient_id", "kind", name="uq_nf_notice_event"),
    sa.Index("ix_nf_notice_inbox", "recipient_id", "seq"),
)

delivery = sa.Table(
    "nf_delivery", metadata,
    _seq(),
    sa.Column("notice_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, deferred, sent, failed
    sa.Column("provider", sa.String(64), nullable=False, server_default=""),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(1000), nullable=False, server_default=""),
    sa.Column("next_attempt_at", When, nullable=True),
    sa.Column("sent_at", When, nullable=True),
    sa.UniqueConstraint("notice_id", "channel", name="uq_nf_delivery_channel"),
    sa.Index("ix_nf_delivery_due", "state", "next_attempt_at"),
)

preferences = sa.Table(
    "nf_preferences", metadata,
    sa.Column("recipient_id", sa.String(128), primary_key=True),
    sa.Column("language", sa.String(8), nullable=False, server_default="zh"),
    sa.Column("channels", sa.Text, nullable=False, server_default="[]"),
    sa.Column("phone", sa.String(64), nullable=False, server_default=""),
    sa.Column("wechat_openid", sa.String(128), nullable=False, server_default=""),
    sa.Column("quiet_start", sa.Integer, nullable=True),  # minute of the local day
    sa.Column("quiet_end", sa.Integer, nullable=True),
    sa.Column("utc_offset_minutes", sa.Integer, nullable=False, server_default="480"),
)

subscription = sa.Table(
    "nf_subscription", metadata,
    sa.Column("recipient_id", sa.String(128), primary_key=True),
    sa.Column("org_path", sa.String(255), primary_key=True),
    sa.Index("ix_nf_subscription_path", "org_path"),
)
