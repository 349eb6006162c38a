"""budgets bind: a pending expense names the approvals it waits for (an overspend waits for the
owners' committee) and how far it overspends; service standards are recorded per period

Revision ID: gov0006
Revises: gov0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0006"
down_revision: str | None = "gov0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_approvals", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("over_budget_fen", sa.BigInteger(), nullable=False, server_default="0"))
    # Before, an expense waited for both parties exactly when it was proposed above the
    # threshold: those still pending, those voided, and those posted with approvals.
    op.execute(
        "UPDATE gov_transfers SET required_approvals = 3 WHERE kind = 2 AND (state IN (1, 3) "
        "OR transfer_id IN (SELECT transfer_id FROM gov_approvals))"
    )
    op.create_table(
        "gov_service_levels",
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=50), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("measured", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("compound_path", "period", "code"),
    )


def downgrade() -> None:
    op.drop_table("gov_service_levels")
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.drop_column("over_budget_fen")
        batch_op.drop_column("required_approvals")
