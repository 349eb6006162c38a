"""Stored rows as the ledger's value types (store.py and batch.py hand out these)."""

from __future__ import annotations

from typing import Any

from linli_points.ledger.model import Hold, HoldState, Kind, Transfer
from linli_runtime.times import as_utc


def transfer_of(row: Any) -> Transfer:
    return Transfer(
        seq=row.seq,
        community_path=row.community_path,
        transfer_id=row.transfer_id,
        kind=Kind(row.kind),
        debit_account=row.debit_account,
        credit_account=row.credit_account,
        amount=row.amount,
        reason=row.reason,
        source=row.source,
        related_transfer_id=row.related_transfer_id,
        debit_balance_after=row.debit_balance_after,
        credit_balance_after=row.credit_balance_after,
        created_at=as_utc(row.created_at),
    )


def hold_of(row: Any) -> Hold:
    """A hold from a row of the transfer's columns joined with the hold's state columns."""
    return Hold(
        transfer=transfer_of(row),
        state=HoldState(row.state),
        expires_at=as_utc(row.expires_at),
        resolved_at=as_utc(row.resolved_at) if row.resolved_at is not None else None,
    )
