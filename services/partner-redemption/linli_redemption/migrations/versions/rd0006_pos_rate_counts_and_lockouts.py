"""POS abuse limits: rate counts per key and window, terminal lockouts

Revision ID: rd0006
Revises: rd0005
Create Date: 2026-12-07 12:00:00

The counts behind the POS abuse limits (linli_redemption.pos_limits, pos_guard) live in the
service's database so that every replica counts in the same rows. Both tables start empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'rd0006'
down_revision: str | None = 'rd0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rd_rate_count',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('window_no', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_no')
    )
    op.create_table('rd_lockout',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('rd_lockout')
    op.drop_table('rd_rate_count')
