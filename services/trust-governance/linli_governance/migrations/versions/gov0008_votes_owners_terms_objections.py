"""votes and bodies: votes open and close on a schedule; owners as art. 278 counts them (one
ballot per owner); committee terms and memberships keep their history (gov_committees moves
into terms); the forming of the first committee; objections are answered and closed.

Forward-only: the old current-committee table is folded into the terms and dropped.

Revision ID: gov0008
Revises: gov0007
Create Date: 2026-12-07
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "gov0008"
down_revision: str | None = "gov0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Votes: a schedule; votes made before opened when they were made.
    with op.batch_alter_table("gov_votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("opened", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute("UPDATE gov_votes SET open_time = created_at")
    with op.batch_alter_table("gov_votes", schema=None) as batch_op:
        batch_op.alter_column("open_time", existing_type=sa.DateTime(timezone=True), nullable=False)

    # One ballot per owner: before, every household was its own owner.
    with op.batch_alter_table("gov_vote_electorate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voter", sa.String(length=512), nullable=False, server_default=""))
    op.execute("UPDATE gov_vote_electorate SET voter = household_path")
    with op.batch_alter_table("gov_ballots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voter", sa.String(length=512), nullable=False, server_default=""))
    op.execute("UPDATE gov_ballots SET voter = household_path")
    with op.batch_alter_table("gov_ballots", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_gov_ballots_voter", ["vote_id", "voter"])

    op.create_table(
        "gov_unit_owners",
        sa.Column("household_path", sa.String(length=512), nullable=False),
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("owner_name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("holding", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("household_path"),
    )
    op.create_index("ix_gov_unit_owners_compound_path", "gov_unit_owners", ["compound_path"])

    # Committee terms with their history.
    terms = op.create_table(
        "gov_committee_terms",
        sa.Column("term_id", sa.String(length=32), nullable=False),
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("formation_date", sa.String(length=10), nullable=False),
        sa.Column("term_end_date", sa.String(length=10), nullable=False),
        sa.Column("elected_by_vote", sa.String(length=600), nullable=False, server_default=""),
        sa.Column("ended_date", sa.String(length=10), nullable=True),
        sa.Column("filed_date", sa.String(length=10), nullable=False, server_default=""),
        sa.Column("filing_reference", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("term_id"),
        sa.UniqueConstraint("compound_path", "number", name="uq_gov_committee_terms_number"),
    )
    members = op.create_table(
        "gov_committee_members",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("term_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("household_path", sa.String(length=512), nullable=False, server_default=""),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("end_date", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_gov_committee_members_term_id", "gov_committee_members", ["term_id"])
    bind = op.get_bind()
    now = datetime.now(UTC)
    for row in bind.execute(sa.text("SELECT * FROM gov_committees")).mappings():
        term_id = uuid.uuid4().hex
        bind.execute(
            terms.insert().values(
                term_id=term_id,
                compound_path=row["compound_path"],
                number=1,
                formation_date=row["formation_date"],
                term_end_date=row["term_end_date"],
                elected_by_vote=row["elected_by_vote"],
                created_at=now,
            )
        )
        listed = row["members"] if isinstance(row["members"], list) else json.loads(row["members"])
        for m in listed:
            bind.execute(
                members.insert().values(
                    term_id=term_id,
                    display_name=m["display_name"],
                    role=m["role"],
                    household_path=m.get("household_path", ""),
                    start_date=row["formation_date"],
                )
            )
    op.drop_table("gov_committees")

    op.create_table(
        "gov_committee_formations",
        sa.Column("compound_path", sa.String(length=512), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("group_formed_date", sa.String(length=10), nullable=False),
        sa.Column("preparatory_group", sa.JSON(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("election_vote", sa.String(length=600), nullable=False, server_default=""),
        sa.Column("elected_date", sa.String(length=10), nullable=False, server_default=""),
        sa.Column("term_id", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("compound_path"),
    )

    # Objections: answered and closed with a record (1 = OPEN).
    with op.batch_alter_table("gov_objections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("answer", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("closing_note", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("gov0008 is forward-only: committee terms cannot be folded back into one row")
