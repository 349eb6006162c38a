"""The rules of redeeming and refunding, as pure functions: what a terminal may ask, when a
reward can be redeemed (`redeem_refusal`: validity window, stock, per-member limit, daily
quota, points — one check for Redeem and QuoteRedemption alike) and at what price, how much of
a redemption is left to refund. The saga (`redemptions`) and its store apply them; the unit
tests check them without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from linli_redemption.names import redemption_name
from linli_redemption.tables import Redemption, Reward
from linli_redemption.terminals import TerminalCaller
from linli_runtime import fields, times
from linli_runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied

PENDING, COMMITTED, VOIDED = "pending", "committed", "voided"
UNLIMITED = -1  # a reward's stock when it has no stock to count
MAX_QUANTITY = 100
MAX_REFUND = 1_000_000_000
ABORTED_MESSAGE = "the redemption did not complete and nothing was charged; start again with a new request id"


def check_merchant(who: TerminalCaller, merchant_id: str) -> None:
    """A terminal acts for its own merchant only."""
    if merchant_id != who.merchant_id:
        raise PermissionDenied(f"this terminal acts for merchant {who.merchant_id}, not {merchant_id}",
                               reason="OTHER_MERCHANT", metadata={"merchant": merchant_id})


def check_quantity(quantity: int) -> int:
    return fields.in_range("quantity", quantity, 1, MAX_QUANTITY)


def check_expected_points(expected_points: int) -> int:
    if expected_points < 0:
        raise InvalidArgument.field("expected_points", "must not be negative")
    return expected_points


def check_refund_points(points: int) -> int:
    """0 asks for everything left."""
    if points < 0 or points > MAX_REFUND:
        raise InvalidArgument.field("points", f"must be between 0 (everything left) and {MAX_REFUND}")
    return points


def valid_at(reward: Reward, now: datetime) -> bool:
    """Inside the reward's validity window [valid_from, valid_until)."""
    return not ((reward.valid_from is not None and now < times.as_utc(reward.valid_from))
                or (reward.valid_until is not None and now >= times.as_utc(reward.valid_until)))


@dataclass(frozen=True)
class Taken:
    """Units of a reward already in live (not voided) redemptions: the member's, ever, and
    everyone's today (China time). Counted only for the rules that need them (0 otherwise)."""

    by_member: int = 0
    today: int = 0


def redeem_refusal(reward: Reward, quantity: int, now: datetime, taken: Taken,
                   available: int | None = None) -> FailedPrecondition | None:
    """The refusal a redeem of `quantity` units of `reward` meets now, or None: THE check, shared
    by Redeem (inside its transaction, the reward's row locked, `available` left to the ledger's
    hold) and QuoteRedemption (a read, with the member's available points), so a quote never
    says yes where the redeem then says no. In order: the validity window, the stock, the
    per-member limit, the daily quota, the member's points."""
    if not valid_at(reward, now):
        return FailedPrecondition(f"{reward.display_name} cannot be redeemed now (outside its validity window)",
                                  reason="REWARD_NOT_VALID")
    if reward.stock != UNLIMITED and reward.stock < quantity:
        return out_of_stock(reward)
    if reward.per_volunteer_limit and taken.by_member + quantity > reward.per_volunteer_limit:
        return FailedPrecondition(f"a member may redeem at most {reward.per_volunteer_limit} of "
                                  f"{reward.display_name}", reason="MEMBER_LIMIT_REACHED")
    if reward.daily_quota and taken.today + quantity > reward.daily_quota:
        return FailedPrecondition(f"today's quota of {reward.display_name} is used up", reason="DAILY_QUOTA_REACHED")
    if available is not None and available < int(reward.points) * quantity:
        return insufficient_points()
    return None


def check_redeemable(reward: Reward, quantity: int, now: datetime, taken: Taken) -> None:
    """Raise the refusal `redeem_refusal` finds (Redeem's side of the shared check)."""
    refusal = redeem_refusal(reward, quantity, now, taken)
    if refusal is not None:
        raise refusal


def price(reward: Reward, quantity: int, expected_points: int) -> int:
    """The points `quantity` of `reward` cost; refused when the terminal expected another price
    (0: it did not say)."""
    points = int(reward.points) * quantity
    if expected_points and expected_points != points:
        raise FailedPrecondition(f"the price is now {points} points, not {expected_points}; quote again",
                                 reason="PRICE_CHANGED", metadata={"points": str(points)})
    return points


def needs_lock(reward: Reward) -> bool:
    """Whether a redeem must take the reward's row before counting: to check a limit against
    every committed redemption. (Stock alone needs no lock: the conditional update that takes
    it is the last word.) Without limits, concurrent tills need not queue."""
    return bool(reward.per_volunteer_limit) or bool(reward.daily_quota)


def out_of_stock(reward: Reward) -> FailedPrecondition:
    return FailedPrecondition(f"{reward.display_name} is out of stock", reason="OUT_OF_STOCK")


def insufficient_points() -> FailedPrecondition:
    return FailedPrecondition("the member does not have enough points", reason="INSUFFICIENT_POINTS")


def refused(row: Redemption) -> FailedPrecondition:
    """The refusal a voided redemption ended in (what every retry of it is told)."""
    return FailedPrecondition(row.void_message or ABORTED_MESSAGE, reason=row.void_reason or "REDEMPTION_ABORTED",
                              metadata={"redemption": redemption_name(row.merchant_id, row.id)})


def committed_already() -> FailedPrecondition:
    return FailedPrecondition("the redemption has committed; refund it instead", reason="REDEMPTION_COMMITTED")


def refund_amount(row: Redemption, asked: int, now: datetime, window: timedelta) -> int:
    """How many points a refund of `row` gives back: `asked`, or everything left when 0."""
    if row.state != COMMITTED:
        raise FailedPrecondition("only a committed redemption can be refunded (cancel a pending one)",
                                 reason="REDEMPTION_NOT_COMMITTED")
    if row.commit_time is None or now - times.as_utc(row.commit_time) > window:
        raise FailedPrecondition(f"refunds are possible for {window} after the redemption",
                                 reason="REFUND_WINDOW_CLOSED")
    left = int(row.points) - int(row.refunded_points)
    amount = asked or left
    if left == 0 or amount > left:
        raise FailedPrecondition(f"only {left} points of this redemption are left to refund",
                                 reason="OVER_REFUND", metadata={"refundable": str(left)})
    return amount


def ledger_day(when: datetime) -> str:
    """The China-time day of a ledger transfer: the key settlement and reconciliation share."""
    return times.local_day(when).isoformat()
