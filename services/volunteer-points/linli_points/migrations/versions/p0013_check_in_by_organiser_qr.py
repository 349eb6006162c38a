"""activities: an end time (the check-in window) and the key of the organiser's rotating
check-in tokens; sign-ups: how the volunteer was checked in

Revision ID: p0013
Revises: p0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0013'
down_revision: str | None = 'p0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('points_activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_time', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('check_in_key', sa.String(length=64), server_default='', nullable=False))
    with op.batch_alter_table('points_sign_up', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_in_method', sa.SmallInteger(), server_default='0', nullable=False))
    # Sign-ups checked in before this revision were checked in with their code: a worker's method.
    op.execute("UPDATE points_sign_up SET check_in_method = 2 WHERE checked_in_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('points_sign_up', schema=None) as batch_op:
        batch_op.drop_column('check_in_method')
    with op.batch_alter_table('points_activity', schema=None) as batch_op:
        batch_op.drop_column('check_in_key')
        batch_op.drop_column('end_time')
