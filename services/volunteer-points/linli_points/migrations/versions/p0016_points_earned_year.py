"""points_earned_year: points each volunteer account earned per China-time year, kept at write
time (ledger/earned.py), backfilled here from the transfers

Revision ID: p0016
Revises: p0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0016'
down_revision: str | None = 'p0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ledger/earned.py's rule in SQL: posted kinds (DIRECT 1, POST 3, REVERSAL 5) from an issuing
# account to a volunteer (+), or from a volunteer back to one (−), in the transfer's China-time year.
_ISSUING = "({col} = 'system/issuance' OR {col} LIKE 'funding/%')"
_CREDIT = f"({_ISSUING.format(col='debit_account')} AND credit_account LIKE 'volunteers/%')"
_RETURN = f"({_ISSUING.format(col='credit_account')} AND debit_account LIKE 'volunteers/%')"
_YEAR = {
    'postgresql': "CAST(EXTRACT(YEAR FROM created_at AT TIME ZONE 'Asia/Shanghai') AS INTEGER)",
    'sqlite': "CAST(strftime('%Y', created_at, '+8 hours') AS INTEGER)",  # stored as UTC; China has no DST
}


def upgrade() -> None:
    op.create_table(
        'points_earned_year',
        sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False,
                  nullable=False),
        sa.Column('year', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('earned', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account_id', 'year'),
    )
    op.execute(backfill(op.get_bind().dialect.name))


def backfill(dialect: str) -> str:
    """The statement that fills the table from the transfers (tests run it on a written ledger)."""
    year = _YEAR[dialect]
    return f"""
        INSERT INTO points_earned_year (account_id, year, earned)
        SELECT account_id, year, SUM(earned) FROM (
            SELECT CASE WHEN {_CREDIT} THEN credit_account_id ELSE debit_account_id END AS account_id,
                   {year} AS year,
                   CASE WHEN {_CREDIT} THEN amount ELSE -amount END AS earned
            FROM points_transfer
            WHERE kind IN (1, 3, 5) AND ({_CREDIT} OR {_RETURN})
        ) AS moved
        GROUP BY account_id, year
        HAVING SUM(earned) <> 0
    """


def downgrade() -> None:
    op.drop_table('points_earned_year')
