"""The ledger's tables (SQLAlchemy Core: the ledger is the hot path).

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
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# 64-bit ids on PostgreSQL; SQLite wants INTEGER for its rowid alias to autoincrement.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Points = sa.BigInteger()

accounts = sa.Table(
    "points_account",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("allow_negative", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("debits_posted", Points, nullable=False, server_default="0"),
    sa.Column("credits_posted", Points, nullable=False, server_default="0"),
    sa.Column("debits_pending", Points, nullable=False, server_default="0"),
    sa.Column("credits_pending", Points, nullable=False, server_default="0"),
    # Points credited from system/issuance net of reversals: what rankings count.
    sa.Column("earned", Points, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("community_path", "name", name="uq_points_account_name"),
)

account_slots = sa.Table(
    "points_account_slot",
    metadata,
    sa.Column("account_id", Id, sa.ForeignKey("points_account.id"), primary_key=True, autoincrement=False),
    sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("debits_posted", Points, nullable=False, server_default="0"),
    sa.Column("credits_posted", Points, nullable=False, server_default="0"),
    sa.Column("debits_pending", Points, nullable=False, server_default="0"),
    sa.Column("credits_pending", Points, nullable=False, server_default="0"),
)

transfers = sa.Table(
    "points_transfer",
    metadata,
    sa.Column("seq", Id, primary_key=True, autoincrement=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("transfer_id", sa.String(160), nullable=False),  # caller ids ≤ 64; ours are longer
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("debit_account_id", Id, sa.ForeignKey("points_account.id"), nullable=False),
    sa.Column("credit_account_id", Id, sa.ForeignKey("points_account.id"), nullable=False),
    sa.Column("debit_account", sa.String(100), nullable=False),
    sa.Column("credit_account", sa.String(100), nullable=False),
    sa.Column("amount", Points, nullable=False),
    sa.Column("reason", sa.String(100), nullable=False, server_default=""),
    sa.Column("source", sa.String(200), nullable=False, server_default=""),
    sa.Column("related_transfer_id", sa.String(160), nullable=False, server_default=""),
    # sha256 of what the caller asked for: a replay must match it exactly.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("debit_balance_after", Points, nullable=True),
    sa.Column("credit_balance_after", Points, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("community_path", "transfer_id", name="uq_points_transfer_id"),
    sa.CheckConstraint("amount > 0", name="ck_points_transfer_amount_positive"),
)
sa.Index("ix_points_transfer_debit", transfers.c.debit_account_id, transfers.c.seq)
sa.Index("ix_points_transfer_credit", transfers.c.credit_account_id, transfers.c.seq)
sa.Index("ix_points_transfer_related", transfers.c.community_path, transfers.c.related_transfer_id)
# Rankings: points earned per community and period.
sa.Index("ix_points_transfer_period", transfers.c.community_path, transfers.c.created_at)

holds = sa.Table(
    "points_hold",
    metadata,
    sa.Column("transfer_seq", Id, sa.ForeignKey("points_transfer.seq"), primary_key=True),
    sa.Column("community_path", sa.String(255), nullable=False),
    sa.Column("hold_id", sa.String(64), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("community_path", "hold_id", name="uq_points_hold_id"),
)
sa.Index("ix_points_hold_due", holds.c.state, holds.c.expires_at)
