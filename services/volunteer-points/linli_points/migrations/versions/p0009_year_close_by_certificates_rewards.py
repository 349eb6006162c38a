"""awards: who closed a year and in whose name its certificates are given; each award's
certificate as first drawn; the material reward when handed over

Revision ID: p0009
Revises: p0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0009'
down_revision: str | None = 'p0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('points_award_certificate',
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.String(length=64), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('community_path', 'year', 'volunteer_id')
    )
    with op.batch_alter_table('points_award', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reward_item', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('reward_received_by', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('reward_handed_over_by', sa.String(length=128), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reward_handed_over_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('points_year_close', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_by', sa.String(length=128), server_default='', nullable=False))
        batch_op.add_column(sa.Column('issuer_name', sa.String(length=100), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('points_year_close', schema=None) as batch_op:
        batch_op.drop_column('issuer_name')
        batch_op.drop_column('closed_by')

    with op.batch_alter_table('points_award', schema=None) as batch_op:
        batch_op.drop_column('reward_handed_over_at')
        batch_op.drop_column('reward_handed_over_by')
        batch_op.drop_column('reward_received_by')
        batch_op.drop_column('reward_item')

    op.drop_table('points_award_certificate')
