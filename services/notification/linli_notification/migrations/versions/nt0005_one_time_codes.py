"""one-time codes sent by SMS, recorded for audit (never the code), and counted per number

Revision ID: nt0005
Revises: nt0004
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0005"
down_revision: str | None = "nt0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nf_one_time_code",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("masked_phone", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=64), server_default="", nullable=False),
        sa.Column("errors", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("retry_after_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("requested_by", "request_id", name="uq_nf_one_time_code_request"),
    )
    op.create_table(
        "nf_one_time_code_send",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("phone_digest", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_nf_one_time_code_send_phone_digest", "nf_one_time_code_send", ["phone_digest"])
    op.create_index("ix_nf_one_time_code_send_sent_at", "nf_one_time_code_send", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_nf_one_time_code_send_sent_at", table_name="nf_one_time_code_send")
    op.drop_index("ix_nf_one_time_code_send_phone_digest", table_name="nf_one_time_code_send")
    op.drop_table("nf_one_time_code_send")
    op.drop_table("nf_one_time_code")
