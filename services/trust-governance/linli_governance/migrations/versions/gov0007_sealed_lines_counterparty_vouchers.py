"""every line is sealed: transfers name their counterparty; voucher files are stored
content-addressed, their metadata here

Revision ID: gov0007
Revises: gov0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gov0007"
down_revision: str | None = "gov0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counterparty", sa.String(length=200), nullable=False, server_default=""))
    op.create_table(
        "gov_vouchers",
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("compound_path", "sha256"),
    )


def downgrade() -> None:
    op.drop_table("gov_vouchers")
    with op.batch_alter_table("gov_transfers", schema=None) as batch_op:
        batch_op.drop_column("counterparty")
