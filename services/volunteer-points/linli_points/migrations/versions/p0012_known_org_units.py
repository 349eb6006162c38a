"""known org units: the places governance announced (points_org_unit)

Revision ID: p0012
Revises: p0011
Create Date: 2026-12-02

Filled by the `points-org-units` consumer from the GOVERNANCE stream; trust-governance's
gov0010 announces every existing unit again, so a database upgraded here learns the whole tree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0012'
down_revision: str | None = 'p0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('points_org_unit',
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('parent_path', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('learned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('path')
    )


def downgrade() -> None:
    op.drop_table('points_org_unit')
