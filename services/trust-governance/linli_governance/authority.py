"""Who may approve what in a compound's books — rules no single account gets around, pure (the
ledger applies them: accounts.py, settings_changes.py).

**Two parties, two accounts.** Spending above the threshold, and any change of the account
settings, needs the owners' committee *and* the trust supervisor. Each approval is given by an
account (the token's `sub`) holding that party's own grant at the compound — a platform admin's
or a service's grant does not stand in (`PARTY_ROLES`, checked with `authorize(exact=True)`):

    the approving account …                                    answer
    already approved the same item for the other party         PERMISSION_DENIED  SAME_ACCOUNT
    recorded the expense, or proposed the settings change      PERMISSION_DENIED  OWN_PROPOSAL
    otherwise                                                  the approval counts

So one person holding both grants cannot approve twice, and the trustee's bookkeeper cannot
approve its own spending even if it also sits on the committee.

**Split spending.** Paying one payee in pieces to stay under the threshold does not work: an
expense is weighed with what the same payee (`payee_key`: case, spaces and full-width forms
ignored) was paid and proposed on the same budget line in the `SPLIT_WINDOW` (30 days) before
it, reversed and refused ones left out (`split_total`). When that sum is above the threshold the
expense is *sent to approval* — PENDING, waiting for both parties — rather than refused: a
contractor is paid in instalments in good faith too, and the approvers see the sum on the
transfer (`payee_recent_fen`). A payee renamed between payments is beyond this rule; the
approvers and the owners reading the disclosure are not.

**Account settings bind the trustee.** The threshold, the surplus share and the period are the
trust contract's rules for the trustee, so the trustee — or anyone else alone — cannot change
them: a change is proposed and applies once both parties approved it, or applies at once under
a passed HIRE_TRUSTEE owners' vote (the owners' decision on the contract), cited once
(`settings_change_needs`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from linli.governance.v1 import account_pb2
from linli_runtime.auth import Role
from linli_runtime.errors import FailedPrecondition, PermissionDenied

SPLIT_WINDOW = timedelta(days=30)
# Each party approves for itself, with its own grant.
PARTY_ROLES: Mapping[int, Role] = {
    account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE: Role.OWNERS_COMMITTEE,
    account_pb2.APPROVAL_PARTY_SUPERVISOR: Role.TRUST_SUPERVISOR,
}
BOTH_PARTIES = (account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE, account_pb2.APPROVAL_PARTY_SUPERVISOR)


def party_name(party: int) -> str:
    return account_pb2.ApprovalParty.Name(cast(Any, party)).removeprefix("APPROVAL_PARTY_")


def check_approver(account: str, party: int, given: Mapping[int, str], proposer: str) -> None:
    """Refuse `account` approving for `party` when it already approved the item for another
    party (`given`: party → account) or proposed it (`proposer`; "" when not known)."""
    for other, by in given.items():
        if by == account and other != party:
            raise PermissionDenied(
                f"you approved this already as {party_name(other)}; the {party_name(party)} approval must come "
                "from another account (两方审批须由不同账户作出)", reason="SAME_ACCOUNT",
                metadata={"account": account, "approved_as": party_name(other)})
    if proposer and account == proposer:
        raise PermissionDenied(
            "you recorded or proposed this yourself; another account must approve it (不得审批本人提出的事项)",
            reason="OWN_PROPOSAL", metadata={"account": account})


def payee_key(name: str) -> str:
    """A payee's name as split spending compares it: full-width forms folded (NFKC), case and
    every space ignored."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def split_total(amount: int, payee: str, recent: Sequence[tuple[str, int]]) -> int:
    """`amount` plus what `recent` (payee, amount) expenses on the same line paid the same payee."""
    key = payee_key(payee)
    return amount + sum(paid for other, paid in recent if payee_key(other) == key)


def needs_both_parties(amount: int, payee_recent: int, threshold: int) -> bool:
    """Above the threshold alone, or with the same payee's recent expenses on the line."""
    return max(amount, payee_recent) > threshold


def check_settings_change(current: tuple[int, int, int], proposed: tuple[int, int, int]) -> None:
    """A change must change something (threshold, surplus share, period)."""
    if current == proposed:
        raise FailedPrecondition("the settings asked for are the settings in force; nothing to change",
                                 reason="SETTINGS_UNCHANGED")
