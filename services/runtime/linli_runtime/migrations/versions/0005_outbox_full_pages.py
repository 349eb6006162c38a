"""Runtime table: the outbox's pages full again on PostgreSQL (rt0004's fillfactor 50 reset).

Revision ID: rt0005
Revises: rt0004
Create Date: 2026-12-08

The room rt0004 left on each page was for the relay's lease, an update of every row it published.
The relay now deletes a row once JetStream acknowledged it (its claim is the delete, committed on
the PubAck), so no row is updated in place: half-empty pages only doubled what an insert and a
claim read. Pages already written keep their layout until rewritten; new ones are full. SQLite
has no such setting (and keeps marking rows sent, for its backups' restore).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "rt0005"
down_revision: str | None = "rt0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE linli_outbox RESET (fillfactor)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE linli_outbox SET (fillfactor = 50)")
