"""The service's tables (SQLAlchemy Core: the redeem path is hot). Times are stored
timezone-aware in UTC; SQLite hands them back naive, so readers go through `times.as_utc`."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
When = sa.DateTime(timezone=True)

partner = sa.Table(
    "rd_partner", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # member_unit | signed_partner | merchant
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("display_name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False, server_default="active"),
    sa.Column("contact", sa.String(200), nullable=False, server_default=""),
    sa.Column("agreement", sa.String(200), nullable=False, server_default=""),
    sa.Column("placeholder", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("create_time", When, nullable=False),
)

terminal = sa.Table(
    "rd_terminal", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("rd_partner.id"), nullable=False, index=True),
    sa.Column("display_name", sa.String(100), nullable=False, server_default=""),
    # sha256(salt ‖ secret): secrets are 256 random bits, so a fast hash is as safe as a slow one.
    sa.Column("secret_salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="active"),
    sa.Column("create_time", When, nullable=False),
    sa.Column("secret_time", When, nullable=False),
)

reward = sa.Table(
    "rd_reward", metadata,
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("rd_partner.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("stock", sa.BigInteger, nullable=False),  # -1: unlimited
    sa.Column("per_volunteer_limit", sa.Integer, nullable=False, server_default="0"),
    sa.Column("daily_quota", sa.Integer, nullable=False, server_default="0"),
    sa.Column("valid_from", When, nullable=True),
    sa.Column("valid_until", When, nullable=True),
    # Bumped by every redeem: the row lock serialises the limit checks of one reward.
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("create_time", When, nullable=False),
)

restock = sa.Table(
    "rd_restock", metadata,
    sa.Column("merchant_id", sa.String(64), primary_key=True),
    sa.Column("reward_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("units", sa.BigInteger, nullable=False),
)

member_card = sa.Table(
    "rd_member_card", metadata,
    sa.Column("card_number", sa.String(8), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("volunteer_id", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("secret", sa.String(64), nullable=False),  # hex; the app derives codes from it
    sa.Column("create_time", When, nullable=False),
    sa.UniqueConstraint("community_path", "volunteer_id", name="uq_rd_member_card_volunteer"),
)

# One row per (card, time step) ever resolved: a code works once, for one terminal.
member_session = sa.Table(
    "rd_member_session", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("card_number", sa.String(8), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("volunteer_id", sa.String(64), nullable=False),
    sa.Column("masked_member", sa.String(200), nullable=False),
    sa.Column("expire_time", When, nullable=False),
    sa.UniqueConstraint("card_number", "step", name="uq_rd_member_session_code"),
)

redemption = sa.Table(
    "rd_redemption", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("volunteer_id", sa.String(64), nullable=False),
    sa.Column("masked_member", sa.String(200), nullable=False),
    sa.Column("reward_id", sa.String(64), nullable=False),
    sa.Column("reward_name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | committed | voided
    sa.Column("void_reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("void_message", sa.String(500), nullable=False, server_default=""),
    sa.Column("hold_id", sa.String(64), nullable=False),
    # Set once PlaceHold answered: from then on recovery asks the ledger instead of assuming
    # the hold was never placed (see redemptions.Recovery).
    sa.Column("hold_placed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("transfer_id", sa.String(80), nullable=False, server_default=""),
    sa.Column("refunded_points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("stock_returned", sa.Boolean, nullable=False, server_default=sa.false()),
    # China-time day of the ledger's POST transfer (settlement and reconciliation key on it).
    sa.Column("ledger_day", sa.String(10), nullable=False, server_default=""),
    sa.Column("create_time", When, nullable=False),
    sa.Column("commit_time", When, nullable=True),
    sa.UniqueConstraint("merchant_id", "request_id", name="uq_rd_redemption_request"),
    sa.Index("ix_rd_redemption_state", "state", "create_time"),
    sa.Index("ix_rd_redemption_member", "reward_id", "volunteer_id"),
    sa.Index("ix_rd_redemption_day", "community_path", "ledger_day"),
)

refund = sa.Table(
    "rd_refund", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("redemption_id", sa.String(64), sa.ForeignKey("rd_redemption.id"), nullable=False, index=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("transfer_id", sa.String(80), nullable=False, server_default=""),
    sa.Column("ledger_day", sa.String(10), nullable=False, server_default=""),
    sa.Column("create_time", When, nullable=False),
    sa.UniqueConstraint("merchant_id", "request_id", name="uq_rd_refund_request"),
    sa.Index("ix_rd_refund_day", "community_path", "ledger_day"),
)

# -- community: rotating duty of member units, needs, resources, projects -----------------------

duty_rotation = sa.Table(
    "rd_duty_rotation", metadata,
    sa.Column("community_path", sa.String(255), primary_key=True),
    sa.Column("partner_ids", sa.Text, nullable=False),  # comma-separated, in duty order
    sa.Column("start_date", sa.String(10), nullable=False),
    sa.Column("period_days", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),  # swaps belong to one version of the rotation
)

duty_swap = sa.Table(
    "rd_duty_swap", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("first_index", sa.Integer, nullable=False),
    sa.Column("second_index", sa.Integer, nullable=False),
    sa.UniqueConstraint("community_path", "request_id", name="uq_rd_duty_swap_request"),
)

need = sa.Table(
    "rd_need", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("raised_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("create_time", When, nullable=False),
)

resource = sa.Table(
    "rd_resource", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("partner_id", sa.String(64), sa.ForeignKey("rd_partner.id"), nullable=False),
    sa.Column("create_time", When, nullable=False),
)

project = sa.Table(
    "rd_project", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("need_id", sa.String(64), sa.ForeignKey("rd_need.id"), nullable=False),
    sa.Column("resource_ids", sa.Text, nullable=False),  # comma-separated
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open | closed
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("create_time", When, nullable=False),
    sa.Column("close_time", When, nullable=True),
    sa.UniqueConstraint("community_path", "request_id", name="uq_rd_project_request"),
)
