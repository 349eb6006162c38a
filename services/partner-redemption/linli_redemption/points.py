"""The boundary to volunteer-points, in this service's own terms.

Redemption needs five things from the points ledger: place, post, void and read a hold (the
redeem saga), reverse a transfer (refunds), read a volunteer's available points and name, and
the clearing account's history (reconciliation). `Points` says exactly that, with domain
values and domain errors; `points_client.PointsClient` is its gRPC implementation (the only
module that knows volunteer-points' protos and status codes), and the unit tests use an
in-memory one. Nothing here imports gRPC.

Errors. A call whose outcome is unknown (volunteer-points down, a deadline passed) raises
`PointsUnavailable` — UNAVAILABLE for the caller, who retries with the same request id (every
ledger call the saga makes is idempotent by its hold or transfer id). A call the ledger
decided against raises `PointsRefused` (final for this request), or one of its kinds the saga
branches on: `InsufficientPoints`, `HoldPosted`, `PointsNotFound`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from linli_runtime.errors import Unavailable

# The ledger account redeemed points move to (and refunds come back from).
CLEARING = "system/redemption-clearing"


def volunteer_account(volunteer_id: str) -> str:
    return f"volunteers/{volunteer_id}"


class HoldState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class TransferKind(StrEnum):
    DIRECT = "direct"
    PENDING = "pending"  # a hold placed
    POST = "post"  # a hold posted: the points moved
    VOID = "void"  # a hold voided
    REVERSAL = "reversal"  # (part of) a transfer undone
    OTHER = "other"  # a kind this service does not know (a newer ledger)


def post_transfer_id(hold_id: str) -> str:
    """The id of the transfer that posts hold `hold_id`: the ledger names it `<hold id>/post`
    (volunteer-points' ledger.store.post_id; '/' never appears in an id a caller chooses). A
    redemption commits before its hold is posted (volunteer-points posts it from the committed
    event), so it records the POST transfer by this name."""
    return f"{hold_id}/post"


@dataclass(frozen=True)
class Hold:
    hold_id: str
    state: HoldState
    amount: int
    # The ledger's times (UTC), when it said them: placed, and when an unresolved hold expires.
    create_time: datetime | None = None
    expire_time: datetime | None = None


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    kind: TransferKind
    amount: int
    create_time: datetime  # the ledger's time of the transfer, UTC


@dataclass(frozen=True)
class ClearingEntry:
    """One transfer as the clearing account saw it: `change` is + for points in, − for out."""

    transfer: Transfer
    change: int


@dataclass(frozen=True)
class ClearingDay:
    """What a community's clearing account moved on a China-time day: points gained by posted
    holds and reversals into it (`redeemed`), points given back out of it (`refunded`). A posted
    hold counts on the day its hold was placed, as a redemption is recorded."""

    community_path: str
    day: str
    redeemed: int
    refunded: int


# -- errors ---------------------------------------------------------------------------------------

class PointsUnavailable(Unavailable):
    """volunteer-points did not answer: the outcome of the call is unknown."""

    def __init__(self, what: str) -> None:
        super().__init__(f"volunteer-points did not answer ({what}); retry with the same request id",
                         reason="LEDGER_UNAVAILABLE")


class PointsRefused(Exception):
    """volunteer-points refused the call; its decision is final for this request. `reason` is
    the ledger's ErrorInfo reason (e.g. HOLD_VOIDED), `message` its words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


class InsufficientPoints(PointsRefused):
    """The volunteer's available points do not cover the hold."""


class HoldPosted(PointsRefused):
    """The hold was posted already (so it cannot be voided: the points have moved)."""


class PointsNotFound(PointsRefused):
    """The ledger knows no such hold, transfer or volunteer."""


class Points(Protocol):
    """What redemption asks of volunteer-points (see the module docstring)."""

    async def place_hold(self, community: str, hold_id: str, volunteer_id: str, amount: int,
                         timeout_seconds: int, source: str) -> Hold:
        """Hold `amount` of the volunteer's points for the clearing account; placing the same
        hold again answers with it as it is now."""
        ...

    async def post_hold(self, community: str, hold_id: str) -> Transfer:
        """Move the held points; posting again answers with the same POST transfer."""
        ...

    async def void_hold(self, community: str, hold_id: str) -> Hold:
        """Release the held points (HoldPosted once they moved)."""
        ...

    async def get_hold(self, community: str, hold_id: str) -> Hold | None:
        """The hold as it is now; None when it was never placed."""
        ...

    async def reverse(self, community: str, transfer_id: str, reversed_id: str, amount: int,
                      reason: str) -> Transfer:
        """Give back `amount` of transfer `reversed_id` as transfer `transfer_id` (idempotent)."""
        ...

    async def available(self, community: str, volunteer_id: str) -> int:
        """The volunteer's points not held for anything."""
        ...

    async def volunteer_name(self, community: str, volunteer_id: str) -> str:
        """The volunteer's display name (PointsNotFound for an unknown volunteer)."""
        ...

    async def volunteer_account(self, community: str, volunteer_id: str) -> str:
        """The account the volunteer is bound to ("" when none; PointsNotFound for an unknown
        volunteer): who may see the volunteer's member code."""
        ...

    def clearing_days(self, community: str, first: str, last: str) -> AsyncIterator[ClearingEntry]:
        """The transfers touching the community's clearing account made on the China-time
        days `first` … `last` (YYYY-MM-DD, at most a week), oldest first — read from those
        days' rows, not the account's history."""
        ...

    async def clearing_totals(self, communities: list[str], first: str, last: str, *,
                              timeout: float | None = None) -> list[ClearingDay]:
        """What each community's clearing account moved on each of the days `first` … `last`
        (at most a week), summed by the ledger (the days with no movement are left out).
        `timeout`: the caller's own deadline, when it has one (None: the client's default)."""
        ...
