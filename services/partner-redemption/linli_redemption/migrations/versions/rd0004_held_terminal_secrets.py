"""the nonces terminal secrets issued under a request id are derived from

Revision ID: rd0004
Revises: rd0003
Create Date: 2026-11-28 10:00:00

CreateTerminal and RotateTerminalSecret are idempotent by request id; a retry is shown the same
secret, re-derived from the nonce kept here (the secret itself is never stored: see
linli_redemption.terminal_secrets).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'rd0004'
down_revision: str | None = 'rd0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rd_held_secret',
    sa.Column('request_key', sa.String(length=64), nullable=False),
    sa.Column('terminal_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('expire_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_key')
    )
    with op.batch_alter_table('rd_held_secret', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rd_held_secret_expire_time'), ['expire_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_rd_held_secret_terminal_id'), ['terminal_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rd_held_secret', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rd_held_secret_terminal_id'))
        batch_op.drop_index(batch_op.f('ix_rd_held_secret_expire_time'))
    op.drop_table('rd_held_secret')
