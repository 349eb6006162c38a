"""help credits: what became of each helper of a resolved help request; adjustments proposed
by the service carry the category and the source of the work they credit

Revision ID: p0006
Revises: p0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0006'
down_revision: str | None = 'p0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('points_help_credit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('help_request', sa.String(length=255), nullable=False),
    sa.Column('volunteer_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('resolved_by', sa.String(length=128), nullable=False),
    sa.Column('transfer_id', sa.String(length=160), server_default='', nullable=False),
    sa.Column('adjustment_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('note', sa.String(length=200), server_default='', nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('community_path', 'help_request', 'volunteer_id', name='uq_points_help_credit')
    )
    with op.batch_alter_table('points_help_credit', schema=None) as batch_op:
        batch_op.create_index('ix_points_help_credit_worker', ['community_path', 'resolved_by', 'created_at'],
                              unique=False)

    with op.batch_alter_table('points_adjustment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('source', sa.String(length=200), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('points_adjustment', schema=None) as batch_op:
        batch_op.drop_column('source')
        batch_op.drop_column('category')

    with op.batch_alter_table('points_help_credit', schema=None) as batch_op:
        batch_op.drop_index('ix_points_help_credit_worker')

    op.drop_table('points_help_credit')
