"""Every table of volunteer-points, each declared once as a SQLModel model on the service's one
registry (`PointsTable`): the ledger's (declared in ledger/tables.py, re-exported here) and
those of people, activities, pairings, awards and adjustments below. Domain modules read rows
back as these models (`linli_runtime.models.loaded`: rows of their own table, unvalidated) and
build Core statements from their tables.

Every row of the people side belongs to a community and is keyed by (community_path,
caller-chosen id); `fingerprint` is a digest of what created it, so a repeated create is
recognised and a conflicting one refused (records.py).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from linli_points.ledger.tables import (
    Account,
    AccountSlot,
    HoldRecord,
    Id,
    Lot,
    LotUse,
    Points,
    PointsTable,
    TransferRecord,
)
from linli_runtime.models import table

__all__ = [
    "Account", "AccountSlot", "Activity", "Adjustment", "Award", "AwardCertificate", "Elder", "Family",
    "FundingSource", "HelpCredit", "HoldRecord", "KnownOrgUnit", "Lot", "LotUse", "Membership", "MonthClose",
    "MonthReminder", "Pairing", "PointsTable", "SignUp", "TaskCategory", "Team", "TransferRecord", "Visit",
    "Volunteer", "YearClose", "metadata",
]

metadata = PointsTable.metadata

PATH = 255  # an org path
ID = 64  # a caller-chosen id
HELP_REQUEST = 255  # a help request's resource name (notification's)
WORKER = 128  # an account id as notification records it (its ids run to 128 characters)


def _path() -> sa.Column[str]:
    return sa.Column(sa.String(PATH), primary_key=True)


def _id() -> sa.Column[str]:
    return sa.Column(sa.String(ID), primary_key=True)


def _text(length: int, *, default: str | None = None) -> sa.Column[str]:
    return sa.Column(sa.String(length), nullable=False, server_default=default)


def _when(*, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


def _fingerprint() -> sa.Column[str]:
    return sa.Column(sa.String(64), nullable=False)


# -- people ---------------------------------------------------------------------------------------

class Volunteer(PointsTable, table=True):
    """A volunteer of one community. `account_id` binds the record to a person's account at the
    issuer (the `sub` of their tokens; "" while unbound): a volunteer id is unique only within
    its community, the account everywhere, so "this volunteer is the caller" is decided by it
    (api/access.py). One account has at most one volunteer per community (the partial unique
    index); a person volunteering in two communities has two records bound to one account."""

    __tablename__ = "points_volunteer"
    __table_args__ = (
        sa.Index("ix_points_volunteer_account", "account_id", "community_path", unique=True,
                 sqlite_where=sa.text("account_id != ''"), postgresql_where=sa.text("account_id != ''")),
    )

    community_path: str = Field(sa_column=_path())
    volunteer_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    person_id: str = Field(default="", sa_column=_text(ID, default=""))
    family_id: str = Field(default="", sa_column=_text(ID, default=""))
    fingerprint: str = Field(sa_column=_fingerprint())
    created_at: datetime = Field(sa_column=_when())
    account_id: str = Field(default="", sa_column=_text(WORKER, default=""))


class Family(PointsTable, table=True):
    __tablename__ = "points_family"

    community_path: str = Field(sa_column=_path())
    family_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    fingerprint: str = Field(sa_column=_fingerprint())
    created_at: datetime = Field(sa_column=_when())


class Team(PointsTable, table=True):
    __tablename__ = "points_team"

    community_path: str = Field(sa_column=_path())
    team_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    fingerprint: str = Field(sa_column=_fingerprint())


class Membership(PointsTable, table=True):
    """A volunteer's time in a team: open while `leave_date` is None; leaving closes the row and
    joining again opens a new one, so rankings can ask who was a member during a period."""

    __tablename__ = "points_membership"
    __table_args__ = (sa.Index("ix_points_membership_team", "community_path", "team_id", "volunteer_id"),)

    id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(PATH), nullable=False))
    team_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    join_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    leave_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))


# -- activities -----------------------------------------------------------------------------------

class TaskCategory(PointsTable, table=True):
    __tablename__ = "points_task_category"

    community_path: str = Field(sa_column=_path())
    slug: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    display_name_en: str = Field(default="", sa_column=_text(100, default=""))
    default_points: int = Field(sa_column=sa.Column(Points, nullable=False))
    # Points a volunteer may earn in this category per day / per month (0: no cap).
    daily_cap: int = Field(default=0, sa_column=sa.Column(Points, nullable=False, server_default="0"))
    monthly_cap: int = Field(default=0, sa_column=sa.Column(Points, nullable=False, server_default="0"))
    placeholder: bool = Field(default=False,
                              sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    # The funding source its points are issued from ("": the community's default).
    funding_source: str = Field(default="", sa_column=_text(ID, default=""))


class Activity(PointsTable, table=True):
    __tablename__ = "points_activity"

    community_path: str = Field(sa_column=_path())
    activity_id: str = Field(sa_column=_id())
    title: str = Field(sa_column=_text(200))
    category: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    points: int = Field(sa_column=sa.Column(Points, nullable=False))
    start_time: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # The end of the check-in window (None: activities.DEFAULT_DURATION after the start).
    end_time: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    created_by: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    fingerprint: str = Field(sa_column=_fingerprint())
    # The key of the organiser's rotating check-in tokens (check_in_tokens.py), made on first
    # use; never leaves this service ("" until then).
    check_in_key: str = Field(default="", sa_column=_text(64, default=""))


class SignUp(PointsTable, table=True):
    __tablename__ = "points_sign_up"

    community_path: str = Field(sa_column=_path())
    activity_id: str = Field(sa_column=_id())
    volunteer_id: str = Field(sa_column=_id())
    state: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # activities.SignUpState
    check_in_code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    points_credited: int = Field(default=0, sa_column=sa.Column(Points, nullable=False, server_default="0"))
    transfer_id: str = Field(default="", sa_column=_text(160, default=""))
    checked_in_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # How: activities.CheckInMethod (0 before check-in).
    check_in_method: int = Field(default=0, sa_column=sa.Column(sa.SmallInteger, nullable=False, server_default="0"))
    confirmed_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    # The account that confirmed it; when it also created the activity and was over its limit,
    # the Adjustment holding the points (solo_limits).
    confirmed_by: str = Field(default="", sa_column=_text(ID, default=""))
    adjustment_id: str = Field(default="", sa_column=_text(ID, default=""))


# -- pairings -------------------------------------------------------------------------------------

class Elder(PointsTable, table=True):
    __tablename__ = "points_elder"

    community_path: str = Field(sa_column=_path())
    elder_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    fingerprint: str = Field(sa_column=_fingerprint())
    # The elder's own account (the `sub` of their tokens), "" when they have none: it may
    # confirm the visits to them.
    account_id: str = Field(default="", sa_column=_text(ID, default=""))


class Pairing(PointsTable, table=True):
    __tablename__ = "points_pairing"

    community_path: str = Field(sa_column=_path())
    pairing_id: str = Field(sa_column=_id())
    family_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    elder_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    start_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    visits_required: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    fingerprint: str = Field(sa_column=_fingerprint())


class Visit(PointsTable, table=True):
    __tablename__ = "points_visit"
    __table_args__ = (sa.Index("ix_points_visit_month", "community_path", "month", "pairing_id"),
                      sa.Index("ix_points_visit_state", "community_path", "state", "visit_time"))

    community_path: str = Field(sa_column=_path())
    visit_id: str = Field(sa_column=_id())
    pairing_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    month: str = Field(sa_column=sa.Column(sa.String(7), nullable=False))  # YYYY-MM in Asia/Shanghai
    visit_time: datetime = Field(sa_column=_when())
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    confirmation: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # pairings.Confirmation
    note: str = Field(default="", sa_column=_text(500, default=""))
    fingerprint: str = Field(sa_column=_fingerprint())
    # pairings.VisitType (0: logged before visits had types)
    visit_type: int = Field(default=0, sa_column=sa.Column(sa.SmallInteger, nullable=False, server_default="0"))
    # pairings.VisitState: LogVisit writes PENDING; rows from before confirmation existed (and
    # the demo's) are CONFIRMED, the server default.
    state: int = Field(default=2, sa_column=sa.Column(sa.SmallInteger, nullable=False, server_default="2"))
    decided_by: str = Field(default="", sa_column=_text(ID, default=""))
    decided_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    decision_note: str = Field(default="", sa_column=_text(500, default=""))
    points_credited: int = Field(default=0, sa_column=sa.Column(Points, nullable=False, server_default="0"))
    transfer_id: str = Field(default="", sa_column=_text(160, default=""))


class MonthClose(PointsTable, table=True):
    __tablename__ = "points_month_close"

    community_path: str = Field(sa_column=_path())
    month: str = Field(sa_column=sa.Column(sa.String(7), primary_key=True))
    evaluated: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    lapsed: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    closed_at: datetime = Field(sa_column=_when())


class MonthReminder(PointsTable, table=True):
    """The mid-month reminders of a community's month, sent (care.py): its key makes them once."""

    __tablename__ = "points_month_reminder"

    community_path: str = Field(sa_column=_path())
    month: str = Field(sa_column=sa.Column(sa.String(7), primary_key=True))
    evaluated: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    reminded: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    sent_at: datetime = Field(sa_column=_when())


# -- awards ---------------------------------------------------------------------------------------

class YearClose(PointsTable, table=True):
    __tablename__ = "points_year_close"

    community_path: str = Field(sa_column=_path())
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    gold_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    silver_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    bronze_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    # "count" or "percent": how the three numbers above were meant.
    rule_kind: str = Field(default="count", sa_column=_text(10, default="count"))
    closed_at: datetime = Field(sa_column=_when())
    # The account that closed it ("" for closes made before it was recorded).
    closed_by: str = Field(default="", sa_column=_text(WORKER, default=""))
    # In whose name the certificates are given ("": the community, by its path).
    issuer_name: str = Field(default="", sa_column=_text(100, default=""))


class Award(PointsTable, table=True):
    __tablename__ = "points_award"

    community_path: str = Field(sa_column=_path())
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    volunteer_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    tier: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # linli.events.v1.AwardTier
    rank: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    points_earned: int = Field(sa_column=sa.Column(Points, nullable=False))
    # The material reward, once handed over (what, to whom, by whom, when).
    reward_item: str = Field(default="", sa_column=_text(200, default=""))
    reward_received_by: str = Field(default="", sa_column=_text(100, default=""))
    reward_handed_over_by: str = Field(default="", sa_column=_text(WORKER, default=""))
    reward_handed_over_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class AwardCertificate(PointsTable, table=True):
    """An award's certificate as first drawn (certificates.py), kept so the same bytes come back."""

    __tablename__ = "points_award_certificate"

    community_path: str = Field(sa_column=_path())
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    volunteer_id: str = Field(sa_column=_id())
    pdf: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(sa_column=_when())


# -- adjustments ----------------------------------------------------------------------------------

class Adjustment(PointsTable, table=True):
    __tablename__ = "points_adjustment"

    community_path: str = Field(sa_column=_path())
    adjustment_id: str = Field(sa_column=_id())
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    points: int = Field(sa_column=sa.Column(Points, nullable=False))
    reason: str = Field(sa_column=_text(200))
    state: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # adjustments.AdjustmentState
    proposed_by: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    decided_by: str = Field(default="", sa_column=_text(ID, default=""))
    transfer_id: str = Field(default="", sa_column=_text(160, default=""))
    proposed_at: datetime = Field(sa_column=_when())
    decided_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    fingerprint: str = Field(sa_column=_fingerprint())
    # Set when the service proposed it for work it may not credit alone (help_credits.py): the
    # category the approved transfer is for (its reason, so caps count it) and what earned it.
    category: str = Field(default="", sa_column=_text(ID, default=""))
    source: str = Field(default="", sa_column=_text(200, default=""))
    # The funding source a credit draws on / a debit returns to ("": the default / system/issuance).
    funding_source: str = Field(default="", sa_column=_text(ID, default=""))


# -- funding --------------------------------------------------------------------------------------

class FundingSource(PointsTable, table=True):
    """Who pays for a community's points (funding.py); its budget is the ledger account
    `funding/{source_id}`."""

    __tablename__ = "points_funding_source"

    community_path: str = Field(sa_column=_path())
    source_id: str = Field(sa_column=_id())
    display_name: str = Field(sa_column=_text(100))
    display_name_en: str = Field(default="", sa_column=_text(100, default=""))
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # funding.FundingKind
    is_default: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False,
                                                                server_default=sa.false()))
    fingerprint: str = Field(sa_column=_fingerprint())
    created_at: datetime = Field(sa_column=_when())


# -- help requests --------------------------------------------------------------------------------

class HelpCredit(PointsTable, table=True):
    """What became of one helper named on a resolved help request (help_credits.py): one row
    per (community, request, volunteer), written with the credit, the proposal or the refusal,
    so a second report of the same request changes nothing."""

    __tablename__ = "points_help_credit"
    __table_args__ = (
        sa.UniqueConstraint("community_path", "help_request", "volunteer_id", name="uq_points_help_credit"),
        # A worker's credits in a day or month (the per-worker limit).
        sa.Index("ix_points_help_credit_worker", "community_path", "resolved_by", "created_at"),
    )

    id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(PATH), nullable=False))
    help_request: str = Field(sa_column=sa.Column(sa.String(HELP_REQUEST), nullable=False))
    volunteer_id: str = Field(sa_column=sa.Column(sa.String(ID), nullable=False))
    state: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # help_credits.HelpCreditState
    points: int = Field(sa_column=sa.Column(Points, nullable=False))
    resolved_by: str = Field(sa_column=sa.Column(sa.String(WORKER), nullable=False))
    transfer_id: str = Field(default="", sa_column=_text(160, default=""))
    adjustment_id: str = Field(default="", sa_column=_text(ID, default=""))
    note: str = Field(default="", sa_column=_text(200, default=""))
    event_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(sa_column=_when())


# -- the org tree, as trust-governance announces it ------------------------------------------------

class KnownOrgUnit(PointsTable, table=True):
    """A place down to compounds, as governance's org-unit events last described it
    (`linli_runtime.org_units`): what volunteer-points knows exists and is open."""

    __tablename__ = "points_org_unit"

    path: str = Field(sa_column=_path())
    parent_path: str = Field(sa_column=_text(PATH))
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # linli.events.v1.OrgUnitKind
    name: str = Field(sa_column=_text(200))
    name_en: str = Field(sa_column=_text(200))
    closed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    revision: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    learned_at: datetime = Field(sa_column=_when())


KNOWN_ORG_UNITS = table(KnownOrgUnit)
