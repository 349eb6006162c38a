"""a follow-up done before it was due records why

Revision ID: nt0003
Revises: nt0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0003"
down_revision: str | None = "nt0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nf_follow_up", sa.Column("early_reason", sa.String(length=1000), server_default="",
                                            nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("nf_follow_up") as batch:
        batch.drop_column("early_reason")
