"""paper ballot recount

Revision ID: gov0003
Revises: gov0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0003"
down_revision: str | None = "gov0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gov_ballots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gov_ballots", schema=None) as batch_op:
        batch_op.drop_column("confirmed_by")
