"""Runtime table: dead letters carry their event's org scope and what an operator did with them.

Revision ID: rt0003
Revises: rt0002
Create Date: 2026-12-02

Existing rows are pending; their org scope is read from the envelope each one keeps (a message
that never decoded keeps the empty scope: platform administrators only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from google.protobuf.message import DecodeError

from linli.events.v1.envelope_pb2 import EventEnvelope

EMPTY = sa.text("''")  # as events.tables declares it

revision: str = "rt0003"
down_revision: str | None = "rt0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("linli_dead_letter") as batch:
        batch.add_column(sa.Column("org_scope", sa.String(255), nullable=False, server_default=EMPTY))
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("resolved_by", sa.String(128), nullable=False, server_default=EMPTY))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resolution_reason", sa.Text, nullable=False, server_default=EMPTY))
        batch.add_column(sa.Column("replay_outcome", sa.String(32), nullable=False, server_default=EMPTY))
    conn = op.get_bind()
    letters = sa.table("linli_dead_letter", sa.column("id"), sa.column("data"), sa.column("org_scope"))
    for row in conn.execute(sa.select(letters.c.id, letters.c.data)).all():
        try:
            scope = EventEnvelope.FromString(row.data).org_scope[:255]
        except DecodeError:
            continue
        if scope:
            conn.execute(letters.update().where(letters.c.id == row.id).values(org_scope=scope))


def downgrade() -> None:
    with op.batch_alter_table("linli_dead_letter") as batch:
        for column in ("replay_outcome", "resolution_reason", "resolved_at", "resolved_by", "state", "org_scope"):
            batch.drop_column(column)
