"""The rules of redeeming and refunding, as pure functions: what a terminal may ask, when a
reward can be redeemed and at what price, the per-member limit and the daily quota, how much
of a redemption is left to refund. The saga (`redemptions`) and its store apply them; the unit
tests check them without a database.
"""

from __future__ import annotations

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


def price(reward: Reward, quantity: int, expected_points: int, now: datetime) -> int:
    """The points `quantity` of `reward` cost now; refused outside the validity window, or when
    the terminal expected another price (0: it did not say)."""
    if not valid_at(reward, now):
        raise FailedPrecondition(f"{reward.display_name} cannot be redeemed now (outside its validity window)",
                                 reason="REWARD_NOT_VALID")
    points = int(reward.points) * quantity
    if expected_points and expected_points != points:
        raise FailedPrecondition(f"the price is now {points} points, not {expected_points}; quote again",
                                 reason="PRICE_CHANGED", metadata={"points": str(points)})
    return points


def needs_lock(reward: Reward) -> bool:
    """Whether a redeem must take the reward's row: to count its stock, or to check a limit
    against every committed redemption. Without either, concurrent tills need not queue."""
    return reward.stock != UNLIMITED or bool(reward.per_volunteer_limit) or bool(reward.daily_quota)


def out_of_stock(reward: Reward) -> FailedPrecondition:
    return FailedPrecondition(f"{reward.display_name} is out of stock", reason="OUT_OF_STOCK")


def check_member_limit(reward: Reward, quantity: int, already: int) -> None:
    """`already`: units of this reward the member holds in live (not voided) redemptions."""
    if reward.per_volunteer_limit and already + quantity > reward.per_volunteer_limit:
        raise FailedPrecondition(f"a member may redeem at most {reward.per_volunteer_limit} of "
                                 f"{reward.display_name}", reason="MEMBER_LIMIT_REACHED")


def check_daily_quota(reward: Reward, quantity: int, today: int) -> None:
    """`today`: units of this reward in live redemptions made today (China time)."""
    if reward.daily_quota and today + quantity > reward.daily_quota:
        raise FailedPrecondition(f"today's quota of {reward.display_name} is used up", reason="DAILY_QUOTA_REACHED")


def quote_refusal(reward: Reward, quantity: int, points: int, available: int) -> str:
    """Why a redeem would be refused now ("" if it would not): the quote a till shows."""
    if reward.stock != UNLIMITED and reward.stock < quantity:
        return "OUT_OF_STOCK"
    if available < points:
        return "INSUFFICIENT_POINTS"
    return ""


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
