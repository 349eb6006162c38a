"""The ledger's value types: what callers ask for and what the ledger records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple


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


class TransferRequest(NamedTuple):
    """What a caller asks the ledger to record (already validated). A NamedTuple, not a frozen
    dataclass: a CreateTransfers makes 10 000 of them, and a frozen dataclass's __init__ sets
    each field through object.__setattr__ (issue 18: 6 % of the call's CPU)."""

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
        """A digest of everything the caller chose: a replay must match it (`fingerprints`)."""
        return fingerprints((self,))[0]


def fingerprints(requests: Iterable[TransferRequest]) -> list[str]:
    """Each request's fingerprint: the sha256 of its fields joined by unit separators (U+001F; one
    f-string: the same bytes as joining them, in half the time). For a batch, the fields after the amount
    (kind, reason, source, related id, timeout) are formatted once per distinct set of them — a
    batch's requests share a few — rather than once per request (issue 18: the fingerprints were
    6 % of a 10 000-transfer CreateTransfers)."""
    sha256 = hashlib.sha256
    tails: dict[tuple[Kind, str, str, str, int], str] = {}
    out: list[str] = []
    append = out.append
    for path, tid, debit, credit, amount, kind, reason, source, related, timeout in requests:
        key = (kind, reason, source, related, timeout)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = f"\x1f{kind:d}\x1f{reason}\x1f{source}\x1f{related}\x1f{timeout}"
        append(sha256(f"{path}\x1f{tid}\x1f{debit}\x1f{credit}\x1f{amount}{tail}".encode()).hexdigest())
    return out


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


def post_id(hold_id: str) -> str:
    # '/' never appears in caller-chosen ids, so these cannot collide with them.
    return f"{hold_id}/post"


def void_id(hold_id: str) -> str:
    return f"{hold_id}/void"


def resolving_request(hold: Hold, action: Kind, reason: str = "") -> TransferRequest:
    """The POST or VOID transfer that resolves `hold`: its accounts, amount and source, with
    `reason` in place of the hold's own when given (an expiry)."""
    t = hold.transfer
    return TransferRequest(
        community_path=t.community_path, transfer_id=post_id(t.transfer_id) if action == Kind.POST
        else void_id(t.transfer_id), debit_account=t.debit_account, credit_account=t.credit_account,
        amount=t.amount, kind=action, reason=reason or t.reason, source=t.source, related_transfer_id=t.transfer_id)


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


class Written(NamedTuple):
    """A DIRECT transfer a batch has recorded (or, `created` False, an earlier item of the same
    batch had): what was asked, and the seq and time it was given. What `CreateTransfers`
    answers from, without a `Transfer` value per transfer (issue 18: a `Transfer` and a
    `Recorded` for each of 10 000 transfers, then a message from them, were a fifth of a call's
    CPU). Its balances after are not kept: the answer does not carry them."""

    request: TransferRequest
    seq: int
    created_at: datetime
    created: bool


@dataclass(frozen=True)
class Resolution:
    """The outcome of PostHold / VoidHold: the hold and the transfer that resolved it."""

    hold: Hold
    transfer: Transfer
