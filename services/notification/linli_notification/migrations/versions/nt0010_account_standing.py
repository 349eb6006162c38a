"""disabled accounts are on nobody's duty: nf_account_standing, learned from identity's
`identity.account.disabled|enabled` events

Revision ID: nt0010
Revises: nt0009
Create Date: 2026-12-07

Until now only a revoked grant took a community worker off duty; a disabled account kept
receiving help requests until its grants were revoked one by one. The table fills from the
IDENTITY stream (the new durable consumer starts at the stream's beginning, so accounts disabled
before this revision are learned too).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0010"
down_revision: str | None = "nt0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nf_account_standing",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nf_account_standing")
