"""day summaries: a community's sealed, balanced day of redemptions per merchant (rd_day_summary)

Revision ID: rd0008
Revises: rd0007
Create Date: 2026-12-08 04:00:00

Filled by SummarizeRedemptions (the city dashboard) the first time it sums up a day that can no
longer change; nothing to fill here: a day missing is summed from the redemptions and kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rd0008"
down_revision: str | None = "rd0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rd_day_summary",
        sa.Column("community_path", sa.String(length=255), nullable=False),
        sa.Column("ledger_day", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("redemption_count", sa.Integer(), nullable=False),
        sa.Column("redeemed_points", sa.BigInteger(), nullable=False),
        sa.Column("refund_count", sa.Integer(), nullable=False),
        sa.Column("refunded_points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("community_path", "ledger_day", "merchant_id"),
    )


def downgrade() -> None:
    op.drop_table("rd_day_summary")
