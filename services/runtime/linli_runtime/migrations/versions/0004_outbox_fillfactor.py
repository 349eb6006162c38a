"""Runtime table: the outbox leaves half of each page free on PostgreSQL (fillfactor 50).

Revision ID: rt0004
Revises: rt0003
Create Date: 2026-12-07

The relay leases every row it publishes (`claimed_until`, `attempts`: no index holds them). With
room on the row's page PostgreSQL writes that update as a heap-only tuple: no new entry in the
outbox's three indexes. Freshly inserted pages are full, so every lease used to be a full update
— measured with pg_stat_statements (bench.event_path --pg-statements): 5.8 WAL records per
event for the lease, 2.2 with the room. Pages already written keep their layout; new ones get
the room. SQLite has no such setting.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "rt0004"
down_revision: str | None = "rt0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE linli_outbox SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE linli_outbox RESET (fillfactor)")
