"""spending decisions carry an amount and a purpose (the maintenance fund is spent only under a
USE_MAINTENANCE_FUND vote, up to its amount)

Revision ID: gov0005
Revises: gov0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0005"
down_revision: str | None = "gov0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gov_votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_fen", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("purpose", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("gov_votes", schema=None) as batch_op:
        batch_op.drop_column("purpose")
        batch_op.drop_column("amount_fen")
