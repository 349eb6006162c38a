"""The service's tables, each declared once as a SQLModel model on the service's own registry.

The models are the type of the rows domain code reads (`typed`, `typed_all`); statements are
SQLAlchemy Core built from `table(Model)` (the ORM's unit of work costs more than most of these
transactions' statements). Column types, defaults and indexes are exactly what the migrations
(gov0001…) create: `tests/integration/governance/test_migrations.py` compares the two.

SQLite hands back naive datetimes for timezone-aware columns; what is stored is UTC, so read
them with `linli_runtime.times.as_utc`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_runtime.models import table


class GovernanceTable(SQLModel, registry=registry()):
    """Base of every trust-governance table: its own MetaData, apart from other services'."""


metadata = GovernanceTable.metadata


def _path(**column: Any) -> sa.Column[Any]:
    """An org path column (`chengdu/chongzhou/…`)."""
    return sa.Column(sa.String(512), **column)


def _seq() -> sa.Column[Any]:
    """An ever-growing row number: the keyset of a compound's lists (BIGINT, INTEGER on SQLite
    so that it is the rowid and autoincrements)."""
    return sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


def _when(*, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


# -- the org tree and the rollout ---------------------------------------------------------------


class OrgUnit(GovernanceTable, table=True):
    __tablename__ = "gov_org_units"
    path: str = Field(sa_column=_path(primary_key=True))
    parent_path: str | None = Field(default=None, sa_column=_path(nullable=True, index=True))
    kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    display_name_en: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    compound_type: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    exclusive_area_dm2: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    created_at: datetime = Field(sa_column=_when())
    # 1 when created, one more with each rename, close or reopen: published with every change, so
    # the services that keep a copy never let an older state overwrite a newer one (gov0010).
    revision: int = Field(default=1, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="1"))
    updated_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # Set while closed: nothing new is added below a closed unit, here or in any other service.
    closed_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # Why it was last closed or reopened.
    status_reason: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False, server_default=""))


class Rollout(GovernanceTable, table=True):
    __tablename__ = "gov_rollouts"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    stage: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    working_group: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # [{"key", "title", "done"}, …] in the order of rollout.CHECKLIST
    checklist: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(sa_column=_when())


class RolloutStep(GovernanceTable, table=True):
    __tablename__ = "gov_rollout_steps"
    id: int | None = Field(default=None, sa_column=_seq())
    compound_path: str = Field(sa_column=_path(nullable=False, index=True))
    stage: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))


# -- the trust common account -------------------------------------------------------------------


class AccountSettings(GovernanceTable, table=True):
    __tablename__ = "gov_account_settings"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    approval_threshold_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    surplus_share_bp: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    period_kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class AccountBalance(GovernanceTable, table=True):
    """Posted balance (debits minus credits) of one account: always the sum of the posted
    transfers, kept so that the no-overdraft rule is one conditional UPDATE."""

    __tablename__ = "gov_accounts"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    account: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    balance_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class Transfer(GovernanceTable, table=True):
    __tablename__ = "gov_transfers"
    __table_args__ = (sa.Index("ix_gov_transfers_compound", "compound_path", "seq"),)
    seq: int | None = Field(default=None, sa_column=_seq())
    transfer_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    compound_path: str = Field(sa_column=_path(nullable=False))
    kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    state: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    debit_account: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    credit_account: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    amount_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    budget_line: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    memo: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    voucher_ref: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False, server_default=""))
    voucher_sha256: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    reverses: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True, unique=True))
    reversed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    owners_decision: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_when())
    posted_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # The disclosure that sealed this transfer (NULL until its period is closed).
    disclosure: str | None = Field(default=None, sa_column=sa.Column(sa.String(600), nullable=True))
    project: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    # The parties an expense waits (or waited) for before posting, as bits (1 the owners'
    # committee, 2 the supervisor): 3 above the threshold, 1 for an overspend below it, 0 none.
    required_approvals: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # How far the expense took its budget line beyond the year's budget when proposed.
    over_budget_fen: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    # Who was paid, or who paid.
    counterparty: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    # The account (token `sub`) that recorded it: it may not approve it ("" before gov0009).
    recorded_by: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    # Expenses: the same payee's expenses on the same line in the 30 days up to this one, this
    # one included (authority.split_total): above the threshold, both parties approve.
    payee_recent_fen: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))


class StoredVoucher(GovernanceTable, table=True):
    """A voucher file of a compound; its bytes live in the voucher store under their SHA-256
    (content-addressed: the same file is kept once, whoever uploads it)."""

    __tablename__ = "gov_vouchers"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    media_type: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    filename: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    size_bytes: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    uploaded_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    uploaded_at: datetime = Field(sa_column=_when())


class Approval(GovernanceTable, table=True):
    __tablename__ = "gov_approvals"
    transfer_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    party: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    approved_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    approved_at: datetime = Field(sa_column=_when())


class SettingsChange(GovernanceTable, table=True):
    """A change of a compound's account settings: proposed, then applied once the owners'
    committee and the supervisor approved it (settings_changes.py), or at once under a passed
    owners' vote."""

    __tablename__ = "gov_settings_changes"
    __table_args__ = (sa.Index("ix_gov_settings_changes_compound", "compound_path", "seq"),)
    seq: int | None = Field(default=None, sa_column=_seq())
    change_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    compound_path: str = Field(sa_column=_path(nullable=False))
    approval_threshold_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    surplus_share_bp: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    period_kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    state: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))  # account_pb2.SettingsChangeState
    proposed_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    owners_decision: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_when())
    decided_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    rejection_reason: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False, server_default=""))


class SettingsChangeApproval(GovernanceTable, table=True):
    __tablename__ = "gov_settings_change_approvals"
    change_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    party: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    approved_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    approved_at: datetime = Field(sa_column=_when())


class Budget(GovernanceTable, table=True):
    __tablename__ = "gov_budgets"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    state: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    approved_by_vote: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))


class BudgetLine(GovernanceTable, table=True):
    __tablename__ = "gov_budget_lines"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    code: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    amount_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class ServiceLevel(GovernanceTable, table=True):
    """What a service standard of the trust contract measured in a period; the standard's terms
    are copied from the contract when recorded (a later contract does not rewrite the past)."""

    __tablename__ = "gov_service_levels"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    period: str = Field(sa_column=sa.Column(sa.String(8), primary_key=True))
    code: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    description: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    unit: str = Field(sa_column=sa.Column(sa.String(50), nullable=False))
    target: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    direction: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    measured: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    recorded_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    recorded_at: datetime = Field(sa_column=_when())


# -- owners' votes ------------------------------------------------------------------------------


class Vote(GovernanceTable, table=True):
    __tablename__ = "gov_votes"
    vote_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    compound_path: str = Field(sa_column=_path(nullable=False, index=True))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    matter: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    subject: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))
    close_time: datetime = Field(sa_column=_when())
    closed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    outcome: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(sa_column=_when())
    # What a spending decision allows (USE_MAINTENANCE_FUND, SPENDING_APPROVAL): at most this
    # much, for this purpose.
    amount_fen: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    purpose: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    # Ballots are taken from `open_time` (the scheduler opens the vote then, fixing the
    # electorate) until `close_time`.
    open_time: datetime = Field(sa_column=_when())
    opened: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))


class Elector(GovernanceTable, table=True):
    """The electorate is fixed when a vote opens: households added later do not vote. `voter` is
    the unit's owner as art. 278 counts owners (art278.electorate)."""

    __tablename__ = "gov_vote_electorate"
    vote_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    household_path: str = Field(sa_column=_path(primary_key=True))
    area_dm2: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    voter: str = Field(default="", sa_column=sa.Column(sa.String(512), nullable=False, server_default=""))


class Ballot(GovernanceTable, table=True):
    """One ballot per owner (the unique voter), cast from any of the owner's units."""

    __tablename__ = "gov_ballots"
    __table_args__ = (sa.UniqueConstraint("vote_id", "voter", name="uq_gov_ballots_voter"),)
    vote_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    household_path: str = Field(sa_column=_path(primary_key=True))
    voter: str = Field(default="", sa_column=sa.Column(sa.String(512), nullable=False, server_default=""))
    choice: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    channel: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    entered_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    cast_at: datetime = Field(sa_column=_when())
    # Paper ballots: the second officer whose recount agreed (NULL until then).
    confirmed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))


# -- disclosures --------------------------------------------------------------------------------


class Disclosure(GovernanceTable, table=True):
    __tablename__ = "gov_disclosures"
    __table_args__ = (sa.UniqueConstraint("compound_path", "period", name="uq_gov_disclosures_period"),)
    seq: int | None = Field(default=None, sa_column=_seq())
    name: str = Field(sa_column=sa.Column(sa.String(600), nullable=False, unique=True))
    compound_path: str = Field(sa_column=_path(nullable=False))
    period: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    period_start: datetime = Field(sa_column=_when())
    period_end: datetime = Field(sa_column=_when())
    # The sealed content: canonical JSON, hashed exactly as stored.
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    seal_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    previous_seal_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    published_at: datetime = Field(sa_column=_when())


class Objection(GovernanceTable, table=True):
    __tablename__ = "gov_objections"
    seq: int | None = Field(default=None, sa_column=_seq())
    objection_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    disclosure: str = Field(sa_column=sa.Column(sa.String(600), nullable=False, index=True))
    kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    account: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    household_path: str = Field(default="", sa_column=_path(nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_when())
    deadline: datetime = Field(sa_column=_when())
    # The answer and the closing record (disclosure_pb2.ObjectionState / ObjectionResolution).
    state: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1"))
    answer: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    answered_by: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    answered_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    resolution: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    closing_note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    closed_by: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    closed_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class UnitOwner(GovernanceTable, table=True):
    """The owners' register: who owns a unit (a household). A unit without an entry is its own
    owner; an owner of several units has one `owner_id` on each; the developer's units are
    DEVELOPER_HELD."""

    __tablename__ = "gov_unit_owners"
    household_path: str = Field(sa_column=_path(primary_key=True))
    compound_path: str = Field(sa_column=_path(nullable=False, index=True))
    owner_id: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""))
    owner_name: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    holding: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


# -- governance bodies: committee terms and memberships keep their history; one current contract
# per compound (replaced whole); meetings are an append-only record ---------------------------


class CommitteeTerm(GovernanceTable, table=True):
    """One term of a compound's owners' committee; the current one has no `ended_date`."""

    __tablename__ = "gov_committee_terms"
    __table_args__ = (sa.UniqueConstraint("compound_path", "number", name="uq_gov_committee_terms_number"),)
    term_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    compound_path: str = Field(sa_column=_path(nullable=False))
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    formation_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    term_end_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    elected_by_vote: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))
    ended_date: str | None = Field(default=None, sa_column=sa.Column(sa.String(10), nullable=True))
    filed_date: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False, server_default=""))
    filing_reference: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_when())


class CommitteeMembership(GovernanceTable, table=True):
    """A member of a term in one role, from `start_date` until `end_date` (none while on)."""

    __tablename__ = "gov_committee_members"
    seq: int | None = Field(default=None, sa_column=_seq())
    term_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    role: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    household_path: str = Field(default="", sa_column=_path(nullable=False, server_default=""))
    start_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    end_date: str | None = Field(default=None, sa_column=sa.Column(sa.String(10), nullable=True))


class CommitteeFormation(GovernanceTable, table=True):
    """The forming of a compound's first committee (bodies_pb2.FormationStage)."""

    __tablename__ = "gov_committee_formations"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    stage: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    group_formed_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    # [{"display_name", "party", "household_path"}, …]
    preparatory_group: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # [{"display_name", "role", "household_path"}, …]
    candidates: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    election_vote: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))
    elected_date: str = Field(default="", sa_column=sa.Column(sa.String(10), nullable=False, server_default=""))
    term_id: str = Field(default="", sa_column=sa.Column(sa.String(32), nullable=False, server_default=""))
    updated_at: datetime = Field(sa_column=_when())


class Contract(GovernanceTable, table=True):
    __tablename__ = "gov_contracts"
    compound_path: str = Field(sa_column=_path(primary_key=True))
    trustee_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    start_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    end_date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    fixed_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    income_share_bp: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    cap_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # [{"code", "description", "unit", "target"}, …]
    standards: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    supervisor_name: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    hired_by_vote: str = Field(default="", sa_column=sa.Column(sa.String(600), nullable=False, server_default=""))


class Meeting(GovernanceTable, table=True):
    __tablename__ = "gov_meetings"
    seq: int | None = Field(default=None, sa_column=_seq())
    meeting_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    compound_path: str = Field(sa_column=_path(nullable=False, index=True))
    date: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    # [{"display_name", "party"}, …]
    attendees: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    topics: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    decisions: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=_when())


# -- improvement projects -----------------------------------------------------------------------


class Project(GovernanceTable, table=True):
    __tablename__ = "gov_projects"
    seq: int | None = Field(default=None, sa_column=_seq())
    project_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    compound_path: str = Field(sa_column=_path(nullable=False, index=True))
    kind: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    budget_line: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    budget_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    status: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    photo_refs: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=_when())


# Core tables for statements.
ORG_UNITS = table(OrgUnit)
ROLLOUTS = table(Rollout)
ROLLOUT_STEPS = table(RolloutStep)
ACCOUNT_SETTINGS = table(AccountSettings)
ACCOUNTS = table(AccountBalance)
TRANSFERS = table(Transfer)
VOUCHERS = table(StoredVoucher)
APPROVALS = table(Approval)
SETTINGS_CHANGES = table(SettingsChange)
SETTINGS_CHANGE_APPROVALS = table(SettingsChangeApproval)
BUDGETS = table(Budget)
BUDGET_LINES = table(BudgetLine)
SERVICE_LEVELS = table(ServiceLevel)
VOTES = table(Vote)
ELECTORATE = table(Elector)
BALLOTS = table(Ballot)
DISCLOSURES = table(Disclosure)
OBJECTIONS = table(Objection)
COMMITTEE_TERMS = table(CommitteeTerm)
COMMITTEE_MEMBERS = table(CommitteeMembership)
FORMATIONS = table(CommitteeFormation)
UNIT_OWNERS = table(UnitOwner)
CONTRACTS = table(Contract)
MEETINGS = table(Meeting)
PROJECTS = table(Project)
