"""activities: who confirmed a sign-up, and the adjustment holding a credit a worker could not
give alone (solo_limits)

Revision ID: p0010
Revises: p0009
Create Date: 2026-12-07 12:00:00

Sign-ups confirmed before keep '' for both: nobody is known to have confirmed them alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0010'
down_revision: str | None = 'p0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('points_sign_up', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_by', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('adjustment_id', sa.String(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('points_sign_up', schema=None) as batch_op:
        batch_op.drop_column('adjustment_id')
        batch_op.drop_column('confirmed_by')
