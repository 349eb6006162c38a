"""org units change: revision, update time, closed, and the tree announced to the services that keep a copy

Revision ID: gov0010
Revises: gov0009
Create Date: 2026-12-02

Before this revision the other services did not keep the org tree, and the GOVERNANCE stream
keeps events for 30 days: a unit created earlier would never reach their new consumers. So the
upgrade also writes, in the same transaction, one `governance.org_unit.updated` event per unit
down to compounds (their state at revision 1, no changed fields) into the outbox, for the relay
to publish like any other; the consumers keep the highest revision they see, so these change
nothing where the unit is already known. Event ids are derived from the path: running it on
two replicas at once (the migration holds a lock on PostgreSQL anyway) cannot announce twice.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from linli.events.v1 import governance_pb2
from linli_runtime.events.envelope import make_event

revision: str = "gov0010"
down_revision: str | None = "gov0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECT = "governance.org_unit.updated"
COMPOUND = 5  # buildings and households stay in the owners' register: nobody else names them
ANNOUNCED = uuid.UUID("5d0f2b0e-6a4b-4b8e-9d1e-0b7a3c1f0a09")  # namespace of the announcement ids


def upgrade() -> None:
    with op.batch_alter_table("gov_org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.String(length=500), nullable=False, server_default=""))
    announce_the_tree()


def announce_the_tree() -> None:
    conn = op.get_bind()
    units = conn.execute(sa.text(
        "SELECT path, parent_path, kind, display_name, display_name_en FROM gov_org_units "
        "WHERE kind <= :compound ORDER BY path"), {"compound": COMPOUND}).all()
    now = datetime.now(UTC)
    outbox = sa.table("linli_outbox", sa.column("event_id"), sa.column("subject"), sa.column("data"),
                      sa.column("created_at"), sa.column("attempts"))
    rows = []
    for path, parent_path, kind, name, name_en in units:
        payload = governance_pb2.OrgUnitUpdated(path=path, parent_path=parent_path or "", kind=kind, name=name,
                                                name_en=name_en, revision=1)
        event_id = uuid.uuid5(ANNOUNCED, path).hex
        envelope = make_event(SUBJECT, payload, org_scope=path, source="trust-governance", occurred_at=now,
                              event_id=event_id)
        rows.append({"event_id": event_id, "subject": SUBJECT, "data": envelope.SerializeToString(),
                     "created_at": now, "attempts": 0})
    if rows:
        op.bulk_insert(outbox, rows)  # type: ignore[arg-type]


def downgrade() -> None:
    with op.batch_alter_table("gov_org_units", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("revision")
