"""points_transfers_by_id: the ledger batch's replay lookup (ledger/batch.py `_by_id`), planned
afresh on every call whatever the table's statistics (PostgreSQL only)

Revision ID: p0017
Revises: p0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'p0017'
down_revision: str | None = 'p0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Why a function (issue 18): the lookup sent as a prepared statement ran, after five calls, on a
# generic plan made once and kept for the connection's life. Made while points_transfer was
# small, that plan read each id through the (community, related_transfer_id) index — for a
# handful of rows it costs a hair less than the unique index, being smaller — and went on
# reading the whole community once per id after the table had grown: 25 s over 85 calls of the
# benchmark. Inside this function `plan_cache_mode = force_custom_plan` plans the lookup at each
# call with the table's size as it is then; `enable_seqscan`, `enable_hashjoin` and
# `enable_mergejoin` off keep a table the statistics underestimate (never analysed: PostgreSQL
# guesses its rows from the columns' declared widths, about a tenth of the real count) from
# being read whole, or joined to the ids by anything but a probe per id. The LATERAL subquery
# with LIMIT 1 is that probe; `(SELECT path)` hides the community's value from the estimate
# (commit 8cfa2fe: a community the statistics do not know yet is not guessed at one row).
# The columns are points_transfer's and the hold's state, in batch.py's `_by_id` order.
_CREATE = """
CREATE FUNCTION points_transfers_by_id(path text, ids text[])
RETURNS TABLE (
    seq bigint, community_path varchar, transfer_id varchar, kind smallint, debit_account_id bigint,
    credit_account_id bigint, debit_account varchar, credit_account varchar, amount bigint, reason varchar,
    source varchar, related_transfer_id varchar, fingerprint varchar, debit_balance_after bigint,
    credit_balance_after bigint, created_at timestamptz, state smallint, expires_at timestamptz,
    resolved_at timestamptz)
LANGUAGE sql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
    SELECT found.* FROM unnest(ids) AS wanted(id) CROSS JOIN LATERAL (
        SELECT t.seq, t.community_path, t.transfer_id, t.kind, t.debit_account_id, t.credit_account_id,
               t.debit_account, t.credit_account, t.amount, t.reason, t.source, t.related_transfer_id,
               t.fingerprint, t.debit_balance_after, t.credit_balance_after, t.created_at,
               h.state, h.expires_at, h.resolved_at
        FROM points_transfer AS t LEFT JOIN points_hold AS h ON h.transfer_seq = t.seq
        WHERE t.community_path = (SELECT path) AND t.transfer_id = wanted.id
        LIMIT 1
    ) AS found
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION points_transfers_by_id(text, text[])')
