"""Two ledger indexes hold only the rows their one query can ask for: ix_points_transfer_related
only transfers that name a related transfer (POST, VOID, REVERSAL: a reversal's sum of what was
already reversed), ix_points_lot_use_restores only the refunds' uses (a refund's lookup of
what earlier refunds gave back)

Revision ID: p0019
Revises: p0018
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p0019'
down_revision: str | None = 'p0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Issue 18: a CreateTransfers of credits (no related id, no refund) maintained an entry per
# transfer in the related index — the community's path and an empty id, ~60 bytes — that no
# query reads; the queries that do read these indexes name a related id (`<> ''` in the query
# too: a bound value proves nothing to the planner) or a restored seq (not NULL by `=`).
RELATED = "related_transfer_id <> ''"
RESTORES = "restores_seq IS NOT NULL"


def upgrade() -> None:
    op.drop_index('ix_points_transfer_related', table_name='points_transfer')
    op.create_index('ix_points_transfer_related', 'points_transfer', ['community_path', 'related_transfer_id'],
                    postgresql_where=sa.text(RELATED), sqlite_where=sa.text(RELATED))
    op.drop_index('ix_points_lot_use_restores', table_name='points_lot_use')
    op.create_index('ix_points_lot_use_restores', 'points_lot_use', ['restores_seq'],
                    postgresql_where=sa.text(RESTORES), sqlite_where=sa.text(RESTORES))


def downgrade() -> None:
    op.drop_index('ix_points_lot_use_restores', table_name='points_lot_use')
    op.create_index('ix_points_lot_use_restores', 'points_lot_use', ['restores_seq'])
    op.drop_index('ix_points_transfer_related', table_name='points_transfer')
    op.create_index('ix_points_transfer_related', 'points_transfer', ['community_path', 'related_transfer_id'])
