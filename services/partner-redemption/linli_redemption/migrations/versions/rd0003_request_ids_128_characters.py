"""request ids up to 128 characters, the one rule of every service

Revision ID: rd0003
Revises: rd0002
Create Date: 2026-11-28 09:00:00

`linli_runtime.fields.request_id` allows 1–128 characters; partner-redemption's columns that
keep request ids for replays were 64 wide, so a longer id valid everywhere else was refused
here. Widening a VARCHAR is a catalogue change on PostgreSQL. SQLite changes a column by
rebuilding the table (copy, DROP, rename), and DROP TABLE of a parent whose rows are referenced
fails while foreign keys are enforced — which cannot be switched off inside the migration's
transaction — so rd_refund, the one child of rd_redemption, is set aside and rebuilt after
(wider itself), as p0005 does in volunteer-points.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'rd0003'
down_revision: str | None = 'rd0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables with a request_id column (each NOT NULL).
REQUEST_ID_TABLES = ['rd_restock', 'rd_redemption', 'rd_refund', 'rd_duty_swap', 'rd_project']
REFUND_COLUMNS = ('id, redemption_id, merchant_id, request_id, fingerprint, community_path, points, reason, '
                  'completed, transfer_id, ledger_day, create_time')


def upgrade() -> None:
    widen(64, 128)


def downgrade() -> None:
    widen(128, 64)


def widen(old: int, new: int) -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute(f'CREATE TABLE _rd0003_refund AS SELECT {REFUND_COLUMNS} FROM rd_refund')
        drop_refunds()
    for table in REQUEST_ID_TABLES:
        if sqlite and table == 'rd_refund':
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('request_id', existing_type=sa.String(length=old), type_=sa.String(length=new),
                                  existing_nullable=False)
    if sqlite:
        create_refunds(new)
        op.execute(f'INSERT INTO rd_refund ({REFUND_COLUMNS}) SELECT {REFUND_COLUMNS} FROM _rd0003_refund')
        op.drop_table('_rd0003_refund')


def drop_refunds() -> None:
    with op.batch_alter_table('rd_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rd_refund_redemption_id'))
        batch_op.drop_index('ix_rd_refund_day')
    op.drop_table('rd_refund')


def create_refunds(request_id_length: int) -> None:
    """rd_refund as rd0001 made it, with request ids `request_id_length` wide."""
    op.create_table('rd_refund',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('redemption_id', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=request_id_length), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('community_path', sa.String(length=255), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('completed', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('transfer_id', sa.String(length=80), server_default='', nullable=False),
    sa.Column('ledger_day', sa.String(length=10), server_default='', nullable=False),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['redemption_id'], ['rd_redemption.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'request_id', name='uq_rd_refund_request')
    )
    with op.batch_alter_table('rd_refund', schema=None) as batch_op:
        batch_op.create_index('ix_rd_refund_day', ['community_path', 'ledger_day'], unique=False)
        batch_op.create_index(batch_op.f('ix_rd_refund_redemption_id'), ['redemption_id'], unique=False)
