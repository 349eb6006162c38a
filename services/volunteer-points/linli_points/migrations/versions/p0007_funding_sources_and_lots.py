"""funding sources, and lots: which source issued each point a volunteer holds, and what became
of the points that left (redeemed, expired, returned, moved)

Revision ID: p0007
Revises: p0006
Create Date: 2026-12-07

Points volunteers already hold were issued before sources existed: each volunteer account with
a positive balance gets one opening lot of that balance, unfunded (source ""), so that every
account's lots add up to its balance from the start.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0007'
down_revision: str | None = 'p0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OPENING = 4  # ledger.lots.Origin.OPENING


def upgrade() -> None:
    op.create_table('points_funding_source',
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('display_name_en', sa.String(length=100), server_default='', nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('community_path', 'source_id')
    )
    op.create_table('points_lot',
    sa.Column('account_id', Id, autoincrement=False, nullable=False),
    sa.Column('seq', Id, autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('origin', sa.SmallInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['points_account.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'seq', 'source')
    )
    op.create_table('points_lot_use',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('transfer_seq', Id, nullable=False),
    sa.Column('account_id', Id, nullable=False),
    sa.Column('lot_seq', Id, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('flow', sa.SmallInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('restores_seq', Id, nullable=True),
    sa.ForeignKeyConstraint(['transfer_seq'], ['points_transfer.seq'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('points_lot_use', schema=None) as batch_op:
        batch_op.create_index('ix_points_lot_use_report', ['community_path', 'source', 'flow'], unique=False)
        batch_op.create_index('ix_points_lot_use_restores', ['restores_seq'], unique=False)

    with op.batch_alter_table('points_adjustment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funding_source', sa.String(length=64), server_default='', nullable=False))

    with op.batch_alter_table('points_task_category', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funding_source', sa.String(length=64), server_default='', nullable=False))

    # Volunteer accounts keep their totals in their own row (never in slots).
    op.execute(
        "INSERT INTO points_lot (account_id, seq, source, community_path, origin, amount, remaining) "
        f"SELECT id, 0, '', community_path, {OPENING}, credits_posted - debits_posted, credits_posted - debits_posted "
        "FROM points_account WHERE name LIKE 'volunteers/%' AND credits_posted - debits_posted > 0")


def downgrade() -> None:
    with op.batch_alter_table('points_task_category', schema=None) as batch_op:
        batch_op.drop_column('funding_source')

    with op.batch_alter_table('points_adjustment', schema=None) as batch_op:
        batch_op.drop_column('funding_source')

    with op.batch_alter_table('points_lot_use', schema=None) as batch_op:
        batch_op.drop_index('ix_points_lot_use_restores')
        batch_op.drop_index('ix_points_lot_use_report')

    op.drop_table('points_lot_use')
    op.drop_table('points_lot')
    op.drop_table('points_funding_source')
