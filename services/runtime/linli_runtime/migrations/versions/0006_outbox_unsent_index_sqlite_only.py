"""Runtime table: the outbox's unsent index dropped on PostgreSQL.

Revision ID: rt0006
Revises: rt0005
Create Date: 2026-12-08

On PostgreSQL the relay deletes a row once JetStream acknowledged it (rt0005), so the table is the
unsent set and its primary key already reads it in order: the relay claims the oldest rows off
the key. `ix_linli_outbox_unsent` (sent_at, seq) was an index entry to insert, write to the WAL
and vacuum for every event, and read nothing the key does not. SQLite keeps it: there the relay
marks rows sent and keeps them for `retention`, and the index finds the unsent ones among them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "rt0006"
down_revision: str | None = "rt0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_linli_outbox_unsent", table_name="linli_outbox")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_linli_outbox_unsent", "linli_outbox", ["sent_at", "seq"])
