"""identity: household claims (an owner asks to be bound to a unit; the committee decides)

Revision ID: id0002
Revises: id0001
Create Date: 2026-12-07 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'id0002'
down_revision: str | None = 'id0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_table('identity_household_claim',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('household_path', sa.String(length=255), nullable=False),
    sa.Column('register_name', sa.String(length=100), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decision_reason', sa.String(length=500), nullable=True),
    sa.Column('grant_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['identity_account.id'], ),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('identity_household_claim', schema=None) as batch_op:
        batch_op.create_index('ix_identity_household_claim_household', ['household_path'], unique=False)
        batch_op.create_index('ix_identity_household_claim_account', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ux_identity_household_claim_pending', ['account_id', 'household_path'], unique=True,
                              sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    with op.batch_alter_table('identity_household_claim', schema=None) as batch_op:
        batch_op.drop_index('ux_identity_household_claim_pending')
        batch_op.drop_index('ix_identity_household_claim_account')
        batch_op.drop_index('ix_identity_household_claim_household')
    op.drop_table('identity_household_claim')
