"""The service's tables (SQLAlchemy Core). The ledger tables are written with Core on the hot
path; everything else uses Core too, for one consistent style."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

Path = sa.String(512)
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)

org_units = sa.Table(
    "gov_org_units",
    metadata,
    sa.Column("path", Path, primary_key=True),
    sa.Column("parent_path", Path, nullable=True, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("display_name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("compound_type", sa.Integer, nullable=False, server_default="0"),
    sa.Column("exclusive_area_dm2", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", When, nullable=False),
)

rollouts = sa.Table(
    "gov_rollouts",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("working_group", sa.JSON, nullable=False),
    sa.Column("checklist", sa.JSON, nullable=False),
    sa.Column("updated_at", When, nullable=False),
)

rollout_steps = sa.Table(
    "gov_rollout_steps",
    metadata,
    sa.Column("id", Seq, primary_key=True, autoincrement=True),
    sa.Column("compound_path", Path, nullable=False, index=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("date", sa.String(10), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
)

account_settings = sa.Table(
    "gov_account_settings",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("approval_threshold_fen", sa.BigInteger, nullable=False),
    sa.Column("surplus_share_bp", sa.Integer, nullable=False),
    sa.Column("period_kind", sa.Integer, nullable=False),
)

# Posted balances (debits minus credits) per account; always the sum of the posted transfers,
# kept so the no-overdraft rule is one conditional UPDATE.
accounts = sa.Table(
    "gov_accounts",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("account", sa.String(80), primary_key=True),
    sa.Column("balance_fen", sa.BigInteger, nullable=False),
)

transfers = sa.Table(
    "gov_transfers",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("transfer_id", sa.String(32), nullable=False, unique=True),
    sa.Column("compound_path", Path, nullable=False),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("state", sa.Integer, nullable=False),
    sa.Column("debit_account", sa.String(80), nullable=False),
    sa.Column("credit_account", sa.String(80), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("budget_line", sa.String(64), nullable=False, server_default=""),
    sa.Column("memo", sa.Text, nullable=False, server_default=""),
    sa.Column("voucher_ref", sa.String(500), nullable=False, server_default=""),
    sa.Column("voucher_sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("reverses", sa.String(32), nullable=True, unique=True),
    sa.Column("reversed_by", sa.String(32), nullable=True),
    sa.Column("owners_decision", sa.String(600), nullable=False, server_default=""),
    sa.Column("created_at", When, nullable=False),
    sa.Column("posted_at", When, nullable=True),
    sa.Column("disclosure", sa.String(600), nullable=True),
    sa.Column("project", sa.String(32), nullable=True),
    sa.Index("ix_gov_transfers_compound", "compound_path", "seq"),
)

approvals = sa.Table(
    "gov_approvals",
    metadata,
    sa.Column("transfer_id", sa.String(32), primary_key=True),
    sa.Column("party", sa.Integer, primary_key=True),
    sa.Column("approved_by", sa.String(200), nullable=False),
    sa.Column("approved_at", When, nullable=False),
)

budgets = sa.Table(
    "gov_budgets",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("state", sa.Integer, nullable=False),
    sa.Column("approved_by_vote", sa.String(600), nullable=False, server_default=""),
)

budget_lines = sa.Table(
    "gov_budget_lines",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

votes = sa.Table(
    "gov_votes",
    metadata,
    sa.Column("vote_id", sa.String(32), primary_key=True),
    sa.Column("compound_path", Path, nullable=False, index=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("matter", sa.Integer, nullable=False),
    sa.Column("subject", sa.String(600), nullable=False, server_default=""),
    sa.Column("close_time", When, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("outcome", sa.Integer, nullable=False),
    sa.Column("created_at", When, nullable=False),
)

# The electorate is fixed when a vote opens: households added later do not vote.
vote_electorate = sa.Table(
    "gov_vote_electorate",
    metadata,
    sa.Column("vote_id", sa.String(32), primary_key=True),
    sa.Column("household_path", Path, primary_key=True),
    sa.Column("area_dm2", sa.BigInteger, nullable=False),
)

# The primary key is the one-ballot-per-household rule.
ballots = sa.Table(
    "gov_ballots",
    metadata,
    sa.Column("vote_id", sa.String(32), primary_key=True),
    sa.Column("household_path", Path, primary_key=True),
    sa.Column("choice", sa.Integer, nullable=False),
    sa.Column("channel", sa.Integer, nullable=False),
    sa.Column("entered_by", sa.String(200), nullable=False),
    sa.Column("cast_at", When, nullable=False),
    # Paper ballots: the second officer whose recount agreed (NULL until then).
    sa.Column("confirmed_by", sa.String(200), nullable=True),
)

disclosures = sa.Table(
    "gov_disclosures",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(600), nullable=False, unique=True),
    sa.Column("compound_path", Path, nullable=False),
    sa.Column("period", sa.String(8), nullable=False),
    sa.Column("period_start", When, nullable=False),
    sa.Column("period_end", When, nullable=False),
    # The sealed content: canonical JSON, hashed exactly as stored.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("seal_hash", sa.String(64), nullable=False),
    sa.Column("previous_seal_hash", sa.String(64), nullable=False),
    sa.Column("published_at", When, nullable=False),
    sa.UniqueConstraint("compound_path", "period", name="uq_gov_disclosures_period"),
)

objections = sa.Table(
    "gov_objections",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("objection_id", sa.String(32), nullable=False, unique=True),
    sa.Column("disclosure", sa.String(600), nullable=False, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("account", sa.String(80), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("household_path", Path, nullable=False, server_default=""),
    sa.Column("created_at", When, nullable=False),
    sa.Column("deadline", When, nullable=False),
)

# Governance bodies: one current committee and one current contract per compound (replaced
# whole); meetings are an append-only record.
committees = sa.Table(
    "gov_committees",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("formation_date", sa.String(10), nullable=False),
    sa.Column("term_end_date", sa.String(10), nullable=False),
    sa.Column("members", sa.JSON, nullable=False),
    sa.Column("elected_by_vote", sa.String(600), nullable=False, server_default=""),
)

contracts = sa.Table(
    "gov_contracts",
    metadata,
    sa.Column("compound_path", Path, primary_key=True),
    sa.Column("trustee_name", sa.String(200), nullable=False),
    sa.Column("start_date", sa.String(10), nullable=False),
    sa.Column("end_date", sa.String(10), nullable=False),
    sa.Column("fixed_fen", sa.BigInteger, nullable=False),
    sa.Column("income_share_bp", sa.Integer, nullable=False),
    sa.Column("cap_fen", sa.BigInteger, nullable=False),
    sa.Column("standards", sa.JSON, nullable=False),
    sa.Column("supervisor_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("hired_by_vote", sa.String(600), nullable=False, server_default=""),
)

meetings = sa.Table(
    "gov_meetings",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("meeting_id", sa.String(32), nullable=False, unique=True),
    sa.Column("compound_path", Path, nullable=False, index=True),
    sa.Column("date", sa.String(10), nullable=False),
    sa.Column("attendees", sa.JSON, nullable=False),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("decisions", sa.JSON, nullable=False),
    sa.Column("created_at", When, nullable=False),
)

projects = sa.Table(
    "gov_projects",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(32), nullable=False, unique=True),
    sa.Column("compound_path", Path, nullable=False, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("budget_line", sa.String(64), nullable=False),
    sa.Column("budget_fen", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("photo_refs", sa.JSON, nullable=False),
    sa.Column("created_at", When, nullable=False),
)
