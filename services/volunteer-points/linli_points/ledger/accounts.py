"""Account names, relative to a community (see ledger.proto)."""

from __future__ import annotations

from linli_points.ledger.model import TransferRequest
from linli_runtime.errors import FailedPrecondition, InvalidArgument
from linli_runtime.fields import ID

ISSUANCE = "system/issuance"
REDEMPTION_CLEARING = "system/redemption-clearing"
EXPIRY = "system/expiry"
SYSTEM_ACCOUNTS = frozenset({ISSUANCE, REDEMPTION_CLEARING, EXPIRY})
# Only issuance may go below zero: its balance is minus the points in circulation.
MAY_GO_NEGATIVE = frozenset({ISSUANCE})

VOLUNTEER_PREFIX = "volunteers/"
# A funding source's remaining budget: points move from it to the volunteers it pays for, and
# it may not go below zero (see funding.py and ledger/lots.py).
FUNDING_PREFIX = "funding/"


def volunteer_account(volunteer_id: str) -> str:
    return VOLUNTEER_PREFIX + volunteer_id


def volunteer_of(account: str) -> str | None:
    """The volunteer id of a `volunteers/{id}` account, else None."""
    return account[len(VOLUNTEER_PREFIX):] if account.startswith(VOLUNTEER_PREFIX) else None


def funding_account(source_id: str) -> str:
    return FUNDING_PREFIX + source_id


def funding_of(account: str) -> str | None:
    """The funding source id of a `funding/{id}` account, else None."""
    return account[len(FUNDING_PREFIX):] if account.startswith(FUNDING_PREFIX) else None


def issued_from(account: str) -> str | None:
    """The funding source points moved out of `account` are issued from: the source's id for
    `funding/{id}`, "" for system/issuance (unfunded); None when the account issues nothing."""
    if account == ISSUANCE:
        return ""
    return funding_of(account)


def is_valid_id(value: str) -> bool:
    """A volunteer id as callers choose ids (linli_runtime.fields.ident): never a '/', which
    the ledger keeps for the ids it derives (`{hold}/post`)."""
    return bool(ID.match(value))


def check_account(field: str, name: str) -> str:
    """`name` if it names an account, else INVALID_ARGUMENT naming `field`."""
    if name in SYSTEM_ACCOUNTS:
        return name
    owner = volunteer_of(name) or funding_of(name)
    if owner is not None and is_valid_id(owner):
        return name
    raise InvalidArgument.field(
        field,
        f"{name!r} is not an account; use 'volunteers/{{id}}', 'funding/{{source_id}}' or one of "
        f"{', '.join(sorted(SYSTEM_ACCOUNTS))}",
    )


def points_short(request: TransferRequest, available: int) -> FailedPrecondition:
    """The refusal of a transfer its debit account cannot cover (`available` points): a funding
    source's budget is spent, or a volunteer's points are short. One wording for the single and
    the batched paths."""
    amount = request.amount
    source = funding_of(request.debit_account)
    if source is not None:
        return FailedPrecondition(
            f"funding source {source!r} has {max(available, 0)} points of budget left, {amount} needed; "
            "add to its budget (FundingService.AddFundingBudget) or draw on another source",
            reason="FUNDING_BUDGET_EXHAUSTED",
            metadata={"source": source, "available": str(max(available, 0))},
        )
    return FailedPrecondition(
        f"{request.debit_account} has {max(available, 0)} points available, {amount} needed",
        reason="INSUFFICIENT_POINTS",
        metadata={"account": request.debit_account, "available": str(max(available, 0))},
    )
