"""request ids move to the runtime's linli_request_ids (scoped by caller)

Revision ID: gov0004
Revises: gov0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0004"
down_revision: str | None = "gov0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("gov_requests")


def downgrade() -> None:
    op.create_table(
        "gov_requests",
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("method", "request_id"),
    )
