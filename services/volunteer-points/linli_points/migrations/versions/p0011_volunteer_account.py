"""volunteers: the person's account at the issuer (the `sub` of their tokens), one per
community at most

Revision ID: p0011
Revises: p0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0011'
down_revision: str | None = 'p0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('points_volunteer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.String(length=128), server_default='', nullable=False))
        batch_op.create_index('ix_points_volunteer_account', ['account_id', 'community_path'], unique=True,
                              sqlite_where=sa.text("account_id != ''"), postgresql_where=sa.text("account_id != ''"))


def downgrade() -> None:
    with op.batch_alter_table('points_volunteer', schema=None) as batch_op:
        batch_op.drop_index('ix_points_volunteer_account')
        batch_op.drop_column('account_id')
