"""Tables of the people, activities, pairings and awards side of the service (the ledger's own
tables are in ledger/tables.py; both share one MetaData). Every row belongs to a community and
is keyed by (community_path, caller-chosen id); `fingerprint` is a digest of what created it,
so a repeated create is recognised and a conflicting one refused."""

from __future__ import annotations

import sqlalchemy as sa

from linli_points.ledger.tables import Id, Points, metadata

PATH = 255
ID = 64


def _key(*names: str) -> list[sa.Column[str]]:
    return [sa.Column("community_path", sa.String(PATH), primary_key=True),
            *(sa.Column(n, sa.String(ID), primary_key=True) for n in names)]


volunteers = sa.Table(
    "points_volunteer", metadata, *_key("volunteer_id"),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("person_id", sa.String(ID), nullable=False, server_default=""),
    sa.Column("family_id", sa.String(ID), nullable=False, server_default=""),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

families = sa.Table(
    "points_family", metadata, *_key("family_id"),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

teams = sa.Table(
    "points_team", metadata, *_key("team_id"),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)

memberships = sa.Table(
    "points_membership", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("community_path", sa.String(PATH), nullable=False),
    sa.Column("team_id", sa.String(ID), nullable=False),
    sa.Column("volunteer_id", sa.String(ID), nullable=False),
    sa.Column("join_date", sa.Date, nullable=False),
    sa.Column("leave_date", sa.Date, nullable=True),
)
sa.Index("ix_points_membership_team", memberships.c.community_path, memberships.c.team_id, memberships.c.volunteer_id)

task_categories = sa.Table(
    "points_task_category", metadata, *_key("slug"),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("display_name_en", sa.String(100), nullable=False, server_default=""),
    sa.Column("default_points", Points, nullable=False),
    sa.Column("daily_cap", Points, nullable=False, server_default="0"),
    sa.Column("monthly_cap", Points, nullable=False, server_default="0"),
    sa.Column("placeholder", sa.Boolean, nullable=False, server_default=sa.false()),
)

activities = sa.Table(
    "points_activity", metadata, *_key("activity_id"),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("category", sa.String(ID), nullable=False),
    sa.Column("points", Points, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_by", sa.String(ID), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)

sign_ups = sa.Table(
    "points_sign_up", metadata, *_key("activity_id", "volunteer_id"),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("check_in_code", sa.String(16), nullable=False),
    sa.Column("points_credited", Points, nullable=False, server_default="0"),
    sa.Column("transfer_id", sa.String(160), nullable=False, server_default=""),
    sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
)

elders = sa.Table(
    "points_elder", metadata, *_key("elder_id"),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)

pairings = sa.Table(
    "points_pairing", metadata, *_key("pairing_id"),
    sa.Column("family_id", sa.String(ID), nullable=False),
    sa.Column("elder_id", sa.String(ID), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("visits_required", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)

visits = sa.Table(
    "points_visit", metadata, *_key("visit_id"),
    sa.Column("pairing_id", sa.String(ID), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("visit_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("volunteer_id", sa.String(ID), nullable=False),
    sa.Column("confirmation", sa.SmallInteger, nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)
sa.Index("ix_points_visit_month", visits.c.community_path, visits.c.month, visits.c.pairing_id)

month_closes = sa.Table(
    "points_month_close", metadata,
    sa.Column("community_path", sa.String(PATH), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("evaluated", sa.Integer, nullable=False),
    sa.Column("lapsed", sa.Integer, nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
)

year_closes = sa.Table(
    "points_year_close", metadata,
    sa.Column("community_path", sa.String(PATH), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("gold_count", sa.Integer, nullable=False),
    sa.Column("silver_count", sa.Integer, nullable=False),
    sa.Column("bronze_count", sa.Integer, nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
)

awards = sa.Table(
    "points_award", metadata,
    sa.Column("community_path", sa.String(PATH), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("volunteer_id", sa.String(ID), primary_key=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("tier", sa.SmallInteger, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("points_earned", Points, nullable=False),
)

adjustments = sa.Table(
    "points_adjustment", metadata, *_key("adjustment_id"),
    sa.Column("volunteer_id", sa.String(ID), nullable=False),
    sa.Column("points", Points, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("proposed_by", sa.String(ID), nullable=False),
    sa.Column("decided_by", sa.String(ID), nullable=False, server_default=""),
    sa.Column("transfer_id", sa.String(160), nullable=False, server_default=""),
    sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)
