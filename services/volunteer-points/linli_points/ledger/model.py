"""The ledger's value types: what callers ask for and what the ledger records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum


class Kind(IntEnum):
    """Numbers match linli.points.v1.TransferKind."""

    DIRECT = 1
    PENDING = 2
    POST = 3
    VOID = 4
    REVERSAL = 5


class HoldState(IntEnum):
    """Numbers match linli.points.v1.HoldState."""

    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


MAX_AMOUNT = 1_000_000_000


@dataclass(frozen=True)
class TransferRequest:
    """What a caller asks the ledger to record (already validated)."""

    community_path: str
    transfer_id: str
    debit_account: str
    credit_account: str
    amount: int
    kind: Kind = Kind.DIRECT
    reason: str = ""
    source: str = ""
    related_transfer_id: str = ""
    timeout_seconds: int = 0  # holds only

    def fingerprint(self) -> str:
        """A digest of everything the caller chose: a replay must match it."""
        parts = (
            self.community_path, self.transfer_id, self.debit_account, self.credit_account,
            str(self.amount), str(int(self.kind)), self.reason, self.source,
            self.related_transfer_id, str(self.timeout_seconds),
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Transfer:
    seq: int
    community_path: str
    transfer_id: str
    kind: Kind
    debit_account: str
    credit_account: str
    amount: int
    reason: str
    source: str
    related_transfer_id: str
    # The account's posted balance after this transfer; None for accounts kept in slots
    # (system accounts: see ledger/tables.py), whose history computes it on read.
    debit_balance_after: int | None
    credit_balance_after: int | None
    created_at: datetime


@dataclass(frozen=True)
class Hold:
    transfer: Transfer
    state: HoldState
    expires_at: datetime
    resolved_at: datetime | None

    @property
    def hold_id(self) -> str:
        return self.transfer.transfer_id


@dataclass(frozen=True)
class Balance:
    community_path: str
    account: str
    balance: int
    held: int
    earned: int

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True)
class HistoryEntry:
    transfer: Transfer
    change: int
    balance_after: int


@dataclass(frozen=True)
class Recorded:
    """The outcome of a write: `created` is False when it replayed an earlier call."""

    transfer: Transfer
    created: bool


@dataclass(frozen=True)
class Resolution:
    """The outcome of PostHold / VoidHold: the hold and the transfer that resolved it."""

    hold: Hold
    transfer: Transfer
