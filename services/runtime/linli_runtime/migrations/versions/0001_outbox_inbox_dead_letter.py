"""Runtime tables: outbox, inbox, dead letters.

Revision ID: rt0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rt0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "linli_outbox",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_linli_outbox_unsent", "linli_outbox", ["sent_at", "seq"])
    op.create_table(
        "linli_inbox",
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "linli_dead_letter",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("stream_seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("consumer", "stream", "stream_seq", name="uq_linli_dead_letter_msg"),
    )


def downgrade() -> None:
    op.drop_table("linli_dead_letter")
    op.drop_table("linli_inbox")
    op.drop_index("ix_linli_outbox_unsent", table_name="linli_outbox")
    op.drop_table("linli_outbox")
