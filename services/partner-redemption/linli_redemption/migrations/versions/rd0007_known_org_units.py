"""known org units: the places governance announced (rd_org_unit)

Revision ID: rd0007
Revises: rd0006
Create Date: 2026-12-02 10:00:00

Filled by the `redemption-org-units` consumer from the GOVERNANCE stream; trust-governance's
gov0010 announces every existing unit again, so a database upgraded here learns the whole tree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rd0007"
down_revision: str | None = "rd0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rd_org_unit",
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("parent_path", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path"),
    )


def downgrade() -> None:
    op.drop_table("rd_org_unit")
