"""The ledger's tables, each declared once as a SQLModel model; the ledger reads and writes them
with SQLAlchemy Core statements built from the models' tables (the ledger is the hot path).

- `points_account`: one row per (community, account name) with running totals. Totals are
  only ever changed by the transfer that explains the change, under the row's lock.
- `points_account_slot`: more running totals of an account, in up to `SLOTS` rows. An
  account's totals are its row's plus the sum of its slots. System accounts (the clearing,
  issuance and expiry accounts every redemption or credit of a community touches) are written
  only through slots — a transfer adds to one slot picked at random — so transfers of a
  community do not queue on one row lock; volunteers' accounts, whose limits are checked under
  their row's lock, only through their row.
- `points_transfer`: immutable entries; (community, transfer id) is unique, which is what
  makes a retried transfer land once. Each row records the posted balance after it of each
  account kept in its row (NULL for slot accounts, whose history computes it on read), so a
  volunteer's history with a running balance is a plain range scan.
- `points_hold`: the state of each pending transfer (PENDING → POSTED | VOIDED | EXPIRED);
  the transfers themselves never change.
- `points_lot`, `points_lot_use`: where each volunteer's points came from (lots.py). A lot is
  points one transfer brought into a volunteer's account from one funding source, with what
  is left of them; a use is points a transfer took out of a lot, and what became of them
  (redeemed, expired, returned, moved). The remaining of a volunteer's lots always add up to
  the account's posted balance; the funding report sums these two tables. A batch writes one
  lot for a run of its credits of one source and origin to one account (ledger/batch.py
  `_plan_inflow`), under the run's first transfer's seq.

The append-only tables (transfers, holds, lots, lot uses) name accounts and transfers by id
without foreign keys (p0015): a key was a trigger per inserted row, and the ledger writes these
rows only with ids it has just read or inserted in the same transaction, never deleting any.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_points.ledger.accounts import SYSTEM_ACCOUNTS
from linli_runtime.models import table

# Slot rows per system account: enough that 32+ concurrent transfers rarely pick the same one.
SLOTS = 32


def in_slots(account: str) -> bool:
    """Whether `account` keeps its running totals in slot rows rather than its own row."""
    return account in SYSTEM_ACCOUNTS


class PointsTable(SQLModel, registry=registry()):
    """The base of every table of volunteer-points: one registry, so one MetaData covers the
    service (what its migrations compare against). Declared here, beside the ledger's tables,
    because the service's tables.py builds on these: it imports this module, never the reverse."""


# 64-bit ids on PostgreSQL; SQLite wants INTEGER for its rowid alias to autoincrement.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Points = sa.BigInteger()


def _total() -> sa.Column[int]:
    return sa.Column(Points, nullable=False, server_default="0")


class Account(PointsTable, table=True):
    __tablename__ = "points_account"
    __table_args__ = (sa.UniqueConstraint("community_path", "name", name="uq_points_account_name"),)

    id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    allow_negative: bool = Field(default=False,
                                 sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    debits_posted: int = Field(default=0, sa_column=_total())
    credits_posted: int = Field(default=0, sa_column=_total())
    debits_pending: int = Field(default=0, sa_column=_total())
    credits_pending: int = Field(default=0, sa_column=_total())
    # Points credited from system/issuance net of reversals: what rankings count.
    earned: int = Field(default=0, sa_column=_total())
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class AccountSlot(PointsTable, table=True):
    __tablename__ = "points_account_slot"

    account_id: int = Field(sa_column=sa.Column(Id, sa.ForeignKey("points_account.id"), primary_key=True,
                                                autoincrement=False))
    slot: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True, autoincrement=False))
    debits_posted: int = Field(default=0, sa_column=_total())
    credits_posted: int = Field(default=0, sa_column=_total())
    debits_pending: int = Field(default=0, sa_column=_total())
    credits_pending: int = Field(default=0, sa_column=_total())


class TransferRecord(PointsTable, table=True):
    """A stored transfer (the ledger hands out `model.Transfer` values made from these)."""

    __tablename__ = "points_transfer"
    __table_args__ = (
        sa.UniqueConstraint("community_path", "transfer_id", name="uq_points_transfer_id"),
        sa.CheckConstraint("amount > 0", name="ck_points_transfer_amount_positive"),
        sa.Index("ix_points_transfer_debit", "debit_account_id", "seq"),
        sa.Index("ix_points_transfer_credit", "credit_account_id", "seq"),
        # Only transfers that name one (p0019): a credit's entry was written and never read.
        sa.Index("ix_points_transfer_related", "community_path", "related_transfer_id",
                 postgresql_where=sa.text("related_transfer_id <> ''"),
                 sqlite_where=sa.text("related_transfer_id <> ''")),
        # Rankings: points earned per community and period.
        sa.Index("ix_points_transfer_period", "community_path", "created_at"),
    )

    seq: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    # Caller ids are at most 64 characters; the ids the ledger derives (`{hold}/post`) are longer.
    transfer_id: str = Field(sa_column=sa.Column(sa.String(160), nullable=False))
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    debit_account_id: int = Field(sa_column=sa.Column(Id, nullable=False))
    credit_account_id: int = Field(sa_column=sa.Column(Id, nullable=False))
    debit_account: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    credit_account: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    amount: int = Field(sa_column=sa.Column(Points, nullable=False))
    reason: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""))
    source: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False, server_default=""))
    related_transfer_id: str = Field(default="", sa_column=sa.Column(sa.String(160), nullable=False,
                                                                     server_default=""))
    # sha256 of what the caller asked for: a replay must match it exactly.
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    debit_balance_after: int | None = Field(default=None, sa_column=sa.Column(Points, nullable=True))
    credit_balance_after: int | None = Field(default=None, sa_column=sa.Column(Points, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class HoldRecord(PointsTable, table=True):
    """The state of a pending transfer (the ledger hands out `model.Hold` values)."""

    __tablename__ = "points_hold"
    __table_args__ = (
        sa.UniqueConstraint("community_path", "hold_id", name="uq_points_hold_id"),
        sa.Index("ix_points_hold_due", "state", "expires_at"),
    )

    transfer_seq: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=False))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    hold_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    state: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    resolved_at: datetime | None = Field(default=None,
                                         sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))


class Lot(PointsTable, table=True):
    """Points of one funding source that one transfer brought into a volunteer's account."""

    __tablename__ = "points_lot"

    account_id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=False))
    # The transfer that brought them (0: the balance the account held when lots began, p0007).
    seq: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=False))
    # The funding source's id; "" for points issued from system/issuance (unfunded).
    source: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    origin: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # lots.Origin
    amount: int = Field(sa_column=sa.Column(Points, nullable=False))
    remaining: int = Field(sa_column=sa.Column(Points, nullable=False))


class LotUse(PointsTable, table=True):
    """Points a transfer took out of a lot (negative: a refund that gave them back)."""

    __tablename__ = "points_lot_use"
    __table_args__ = (
        sa.Index("ix_points_lot_use_report", "community_path", "source", "flow"),
        sa.Index("ix_points_lot_use_restores", "restores_seq", postgresql_where=sa.text("restores_seq IS NOT NULL"),
                 sqlite_where=sa.text("restores_seq IS NOT NULL")),  # refunds' uses only (p0019)
    )

    id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=True))
    transfer_seq: int = Field(sa_column=sa.Column(Id, nullable=False))
    account_id: int = Field(sa_column=sa.Column(Id, nullable=False))
    lot_seq: int = Field(sa_column=sa.Column(Id, nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    community_path: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    flow: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))  # lots.Flow
    amount: int = Field(sa_column=sa.Column(Points, nullable=False))
    # For a refund: the transfer whose use it gives back.
    restores_seq: int | None = Field(default=None, sa_column=sa.Column(Id, nullable=True))


class EarnedYear(PointsTable, table=True):
    """Points a volunteer's account earned in a China-time year (credits from system/issuance or
    a funding source, net of those returned), kept as the transfers are written (earned.py), so
    that a board of the year (the city dashboard) does not sum the year's transfers. No foreign
    key: the write path adds to it once per batch, and a key's check is a trigger per row. The
    account's community is kept beside it (p0018), so that a community's board of the year is
    a range of `ix_points_earned_year_board`: its first places read from the end of that range
    (earned, highest first), without ranking every earner of the city."""

    __tablename__ = "points_earned_year"
    __table_args__ = (sa.Index("ix_points_earned_year_board", "community_path", "year", "earned"),)

    account_id: int = Field(sa_column=sa.Column(Id, primary_key=True, autoincrement=False))
    year: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True, autoincrement=False))
    earned: int = Field(sa_column=sa.Column(Points, nullable=False))
    community_path: str = Field(default="", sa_column=sa.Column(sa.String(255), nullable=False, server_default=""))


# The Core tables the ledger's statements are built from (the hot path: no ORM unit of work).
accounts = table(Account)
account_slots = table(AccountSlot)
transfers = table(TransferRecord)
holds = table(HoldRecord)
lots = table(Lot)
lot_uses = table(LotUse)
earned_years = table(EarnedYear)
