"""which account each community's volunteer is (from volunteer-points), so notices about a
volunteer reach that person's inbox

Revision ID: nt0007
Revises: nt0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0007"
down_revision: str | None = "nt0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nf_volunteer_account",
        sa.Column("community_path", sa.String(length=255), nullable=False),
        sa.Column("volunteer_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("community_path", "volunteer_id"),
    )


def downgrade() -> None:
    op.drop_table("nf_volunteer_account")
