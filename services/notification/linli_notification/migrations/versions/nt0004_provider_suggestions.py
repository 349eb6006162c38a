"""providers are suggested once per opening, not only at filing

Revision ID: nt0004
Revises: nt0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0004"
down_revision: str | None = "nt0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nf_suggestion",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("help_request_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("opening_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("help_request_id", "provider_id", "opening_start", name="uq_nf_suggestion_opening"),
    )


def downgrade() -> None:
    op.drop_table("nf_suggestion")
