"""visits: pending until the elder or a worker confirms (or rejects) them, with the points a
confirmed visit earned; elders: their own account

Revision ID: p0014
Revises: p0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0014'
down_revision: str | None = 'p0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('points_elder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.String(length=64), server_default='', nullable=False))
    # Visits logged before: they were confirmed by the elder or a proxy when logged (state 2).
    with op.batch_alter_table('points_visit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.SmallInteger(), server_default='2', nullable=False))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('points_credited', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('transfer_id', sa.String(length=160), server_default='', nullable=False))
        batch_op.create_index('ix_points_visit_state', ['community_path', 'state', 'visit_time'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('points_visit', schema=None) as batch_op:
        batch_op.drop_index('ix_points_visit_state')
        for column in ('transfer_id', 'points_credited', 'decision_note', 'decided_at', 'decided_by', 'state'):
            batch_op.drop_column(column)
    with op.batch_alter_table('points_elder', schema=None) as batch_op:
        batch_op.drop_column('account_id')
