"""care runs by itself: the mid-month reminders sent per community and month; visits carry
their type (0 for visits logged before types existed)

Revision ID: p0008
Revises: p0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0008'
down_revision: str | None = 'p0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('points_month_reminder',
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('evaluated', sa.Integer(), nullable=False),
    sa.Column('reminded', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('community_path', 'month')
    )
    with op.batch_alter_table('points_visit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visit_type', sa.SmallInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('points_visit', schema=None) as batch_op:
        batch_op.drop_column('visit_type')

    op.drop_table('points_month_reminder')
