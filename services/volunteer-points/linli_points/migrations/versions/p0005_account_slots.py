"""account slots: system accounts' running totals in sharded rows; balance_after nullable

Revision ID: p0005
Revises: p0004
Create Date: 2026-11-27

No data moves: an account's totals are its row's plus the sum of its slots, so the totals
system accounts already hold in their rows stay where they are and new transfers add to slots.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0005'
down_revision: str | None = 'p0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('points_account_slot',
    sa.Column('account_id', Id, autoincrement=False, nullable=False),
    sa.Column('slot', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('debits_posted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('credits_posted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('debits_pending', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('credits_pending', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['points_account.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'slot')
    )
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        # SQLite changes a column by rebuilding the table: copy, DROP, rename. DROP TABLE of a
        # parent whose rows are referenced fails while foreign keys are enforced, and that
        # cannot be switched off inside the migration's transaction; so the one child,
        # points_hold, is set aside first and rebuilt after.
        op.execute(f'CREATE TABLE _p0005_hold AS SELECT {HOLD_COLUMNS} FROM points_hold')
        op.drop_index('ix_points_hold_due', table_name='points_hold')
        op.drop_table('points_hold')
    with op.batch_alter_table('points_transfer', schema=None) as batch_op:
        batch_op.alter_column('debit_balance_after', existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column('credit_balance_after', existing_type=sa.BigInteger(), nullable=True)
    if sqlite:
        create_holds()
        op.execute(f'INSERT INTO points_hold ({HOLD_COLUMNS}) SELECT {HOLD_COLUMNS} FROM _p0005_hold')
        op.drop_table('_p0005_hold')


HOLD_COLUMNS = 'transfer_seq, community_path, hold_id, state, expires_at, resolved_at'


def create_holds() -> None:
    """points_hold exactly as p0001 made it."""
    op.create_table('points_hold',
    sa.Column('transfer_seq', Id, nullable=False),
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('hold_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['transfer_seq'], ['points_transfer.seq'], ),
    sa.PrimaryKeyConstraint('transfer_seq'),
    sa.UniqueConstraint('community_path', 'hold_id', name='uq_points_hold_id')
    )
    with op.batch_alter_table('points_hold', schema=None) as batch_op:
        batch_op.create_index('ix_points_hold_due', ['state', 'expires_at'], unique=False)


def downgrade() -> None:
    # Fold the slots back into their accounts' rows, and give slot accounts' transfers a
    # balance again (0: the running balance of a slot account is computed on read).
    op.execute(
        "UPDATE points_account SET "
        + ", ".join(
            f"{col} = {col} + COALESCE((SELECT SUM(s.{col}) FROM points_account_slot s "
            f"WHERE s.account_id = points_account.id), 0)"
            for col in ('debits_posted', 'credits_posted', 'debits_pending', 'credits_pending')
        )
    )
    op.execute("UPDATE points_transfer SET debit_balance_after = 0 WHERE debit_balance_after IS NULL")
    op.execute("UPDATE points_transfer SET credit_balance_after = 0 WHERE credit_balance_after IS NULL")
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # see upgrade()
        op.execute(f'CREATE TABLE _p0005_hold AS SELECT {HOLD_COLUMNS} FROM points_hold')
        op.drop_index('ix_points_hold_due', table_name='points_hold')
        op.drop_table('points_hold')
    with op.batch_alter_table('points_transfer', schema=None) as batch_op:
        batch_op.alter_column('credit_balance_after', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('debit_balance_after', existing_type=sa.BigInteger(), nullable=False)
    if sqlite:
        create_holds()
        op.execute(f'INSERT INTO points_hold ({HOLD_COLUMNS}) SELECT {HOLD_COLUMNS} FROM _p0005_hold')
        op.drop_table('_p0005_hold')
    op.drop_table('points_account_slot')
