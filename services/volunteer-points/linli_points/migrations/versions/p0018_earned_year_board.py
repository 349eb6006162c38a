"""points_earned_year keeps the account's community, indexed for a community's board of a year
(ix_points_earned_year_board: community, year, earned): the city dashboard reads each
community's first places from the end of its range instead of ranking every earner

Revision ID: p0018
Revises: p0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0018'
down_revision: str | None = 'p0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each row's community from its account (an account never changes community).
FILL = """
    UPDATE points_earned_year SET community_path = (
        SELECT community_path FROM points_account WHERE points_account.id = points_earned_year.account_id)
    WHERE community_path = ''
"""


def upgrade() -> None:
    op.add_column('points_earned_year',
                  sa.Column('community_path', sa.String(length=255), server_default='', nullable=False))
    op.execute(FILL)
    op.create_index('ix_points_earned_year_board', 'points_earned_year', ['community_path', 'year', 'earned'])


def downgrade() -> None:
    op.drop_index('ix_points_earned_year_board', table_name='points_earned_year')
    with op.batch_alter_table('points_earned_year') as batch:
        batch.drop_column('community_path')
