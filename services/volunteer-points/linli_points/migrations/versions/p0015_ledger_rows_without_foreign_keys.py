"""ledger: the append-only rows (transfers, holds, lots, lot uses) without foreign keys

Why (issue 18): each foreign key is a trigger per inserted row that reads and share-locks the
row it names; a batch of 10 000 transfers paid 20 000 of them on PostgreSQL (about half of the
transfers' INSERT). The ledger writes these rows only with the ids of accounts and transfers it
has just read or inserted in the same transaction, and never deletes an account or a transfer:
the keys checked nothing the ledger's own code does not already guarantee. The slots keep theirs
(they are updated in place, not appended).

Revision ID: p0015
Revises: p0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'p0015'
down_revision: str | None = 'p0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, referred column), the tables that refer to points_transfer
# first: SQLite rebuilds each table (a copy, then DROP TABLE), and with foreign keys on, dropping
# points_transfer while a hold still refers to one of its rows fails. Downgrading goes backwards.
KEYS = (
    ('points_hold', 'transfer_seq', 'points_transfer', 'seq'),
    ('points_lot_use', 'transfer_seq', 'points_transfer', 'seq'),
    ('points_lot', 'account_id', 'points_account', 'id'),
    ('points_transfer', 'debit_account_id', 'points_account', 'id'),
    ('points_transfer', 'credit_account_id', 'points_account', 'id'),
)
# SQLite keeps these keys unnamed: a batch rebuild names what it reflects with this convention,
# so that a key can be named to drop it. PostgreSQL named them `<table>_<column>_fkey`.
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _name(table: str, column: str, referred: str) -> str:
    if op.get_context().dialect.name == 'sqlite':
        return f'fk_{table}_{column}_{referred}'
    return f'{table}_{column}_fkey'


def upgrade() -> None:
    for table in dict.fromkeys(t for t, *_ in KEYS):
        with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch_op:
            for t, column, referred, _ in KEYS:
                if t == table:
                    batch_op.drop_constraint(_name(table, column, referred), type_='foreignkey')


def downgrade() -> None:
    for table in reversed(dict.fromkeys(t for t, *_ in KEYS)):
        with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch_op:
            for t, column, referred, referred_column in KEYS:
                if t == table:
                    batch_op.create_foreign_key(_name(table, column, referred), referred, [column], [referred_column])
