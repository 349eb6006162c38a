"""a help request names the household of the person who needs help (its residents follow it)

Revision ID: nt0006
Revises: nt0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0006"
down_revision: str | None = "nt0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nf_help_request", sa.Column("household_path", sa.String(length=255), server_default="",
                                               nullable=False))
    op.create_index("ix_nf_help_request_household", "nf_help_request", ["household_path", "seq"])


def downgrade() -> None:
    op.drop_index("ix_nf_help_request_household", table_name="nf_help_request")
    with op.batch_alter_table("nf_help_request") as batch:
        batch.drop_column("household_path")
