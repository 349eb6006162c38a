"""authority rules: settings changes wait for two accounts; expenses remember who recorded them
and what their payee was paid lately

Revision ID: gov0009
Revises: gov0008
Create Date: 2026-12-07 12:00:00

gov_settings_changes (and their approvals): a change of a compound's account settings is
proposed and applies once the owners' committee and the supervisor approved it, or at once under
a passed owners' vote. gov_transfers gains `recorded_by` (the account that recorded an expense,
which may not approve it; '' for transfers recorded before) and `payee_recent_fen` (the same
payee's expenses on the same line in the 30 days up to it; 0 before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0009"
down_revision: str | None = "gov0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("payee_recent_fen", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "gov_settings_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("change_id", sa.String(length=32), nullable=False),
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("approval_threshold_fen", sa.BigInteger(), nullable=False),
        sa.Column("surplus_share_bp", sa.Integer(), nullable=False),
        sa.Column("period_kind", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("owners_decision", sa.String(length=600), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("change_id"),
    )
    op.create_index("ix_gov_settings_changes_compound", "gov_settings_changes", ["compound_path", "seq"])
    op.create_table(
        "gov_settings_change_approvals",
        sa.Column("change_id", sa.String(length=32), nullable=False),
        sa.Column("party", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("change_id", "party"),
    )


def downgrade() -> None:
    op.drop_table("gov_settings_change_approvals")
    op.drop_index("ix_gov_settings_changes_compound", table_name="gov_settings_changes")
    op.drop_table("gov_settings_changes")
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.drop_column("payee_recent_fen")
        batch_op.drop_column("recorded_by")
