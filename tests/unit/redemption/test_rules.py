"""The pure rules of partner-redemption: redeeming (validity, price, limits, quotes), refunds,
member sessions, the rotating duty, settlement's reconciliation and the catalogue's window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from linli_redemption import redemption_rules as rules
from linli_redemption.catalog import check_window
from linli_redemption.duty import assignments, check_units, period_index
from linli_redemption.members import check_volunteer_id, in_community, live_session
from linli_redemption.points import ClearingEntry, Transfer, TransferKind
from linli_redemption.settlement import DailySettlement, compare, movement
from linli_redemption.tables import DutyRotation, DutySwap, MemberSession, Redemption, Reward
from linli_redemption.terminals import TerminalCaller

from linli_runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied

NOW = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
TILL = TerminalCaller("till-1", "health", "chengdu/jinjiang/chenglonglu/fengshu")


def reward(**changes: Any) -> Reward:
    values: dict[str, Any] = dict(merchant_id="health", id="kit", display_name="first-aid kit", points=40,
                                     stock=-1, create_time=NOW)
    values.update(changes)
    return Reward(**values)


def redemption(**changes: Any) -> Redemption:
    values: dict[str, Any] = dict(
        id="r-1", merchant_id="health", request_id="q", fingerprint="f", terminal_id="till-1",
        community_path=TILL.community_path, volunteer_id="v-1", masked_member="王*英", reward_id="kit",
        reward_name="first-aid kit", quantity=1, points=40, state=rules.COMMITTED, hold_id="redemption:r-1",
        create_time=NOW, commit_time=NOW)
    values.update(changes)
    return Redemption(**values)


def reason(error: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return error.value.reason


# -- redeeming ------------------------------------------------------------------------------------

def test_a_terminal_acts_for_its_own_merchant_only() -> None:
    rules.check_merchant(TILL, "health")
    with pytest.raises(PermissionDenied) as other:
        rules.check_merchant(TILL, "canteen")
    assert other.value.reason == "OTHER_MERCHANT"


def refusal_of(item: Reward, quantity: int = 1, when: datetime = NOW, taken: rules.Taken | None = None,
               available: int | None = None) -> str:
    """The reason `redeem_refusal` gives ("" when it lets the redeem through)."""
    found = rules.redeem_refusal(item, quantity, when, taken or rules.Taken(), available)
    return found.reason if found else ""


def test_the_price_is_the_reward_s_times_the_quantity_and_must_be_the_one_expected() -> None:
    assert rules.price(reward(), 3, 0) == 120
    assert rules.price(reward(), 3, 120) == 120
    with pytest.raises(FailedPrecondition) as changed:
        rules.price(reward(), 3, 100)
    assert reason(changed) == "PRICE_CHANGED" and changed.value.metadata == {"points": "120"}


def test_a_reward_is_redeemable_only_inside_its_validity_window() -> None:
    window = reward(valid_from=NOW, valid_until=NOW + timedelta(days=1))
    assert refusal_of(window, when=NOW) == ""  # from is inclusive
    for outside in (NOW - timedelta(seconds=1), NOW + timedelta(days=1)):  # until is exclusive
        assert refusal_of(window, when=outside) == "REWARD_NOT_VALID"
    naive = reward(valid_until=datetime(2026, 11, 7, 8, 0))  # as SQLite hands it back: UTC
    assert not rules.valid_at(naive, NOW) and refusal_of(naive) == "REWARD_NOT_VALID"


def test_only_limited_rewards_take_the_row_lock_before_counting() -> None:
    assert not rules.needs_lock(reward())
    assert not rules.needs_lock(reward(stock=5))  # the conditional stock update is the last word
    assert rules.needs_lock(reward(per_volunteer_limit=1))
    assert rules.needs_lock(reward(daily_quota=10))


def test_stock_the_member_limit_and_the_daily_quota_count_what_is_already_taken() -> None:
    assert refusal_of(reward(stock=2), 2) == "" and refusal_of(reward(stock=1), 2) == "OUT_OF_STOCK"
    limited = reward(per_volunteer_limit=2, daily_quota=3)
    assert refusal_of(limited, 2, taken=rules.Taken(by_member=0)) == ""
    assert refusal_of(limited, 1, taken=rules.Taken(today=2)) == ""
    assert refusal_of(limited, 1, taken=rules.Taken(by_member=2)) == "MEMBER_LIMIT_REACHED"
    assert refusal_of(limited, 2, taken=rules.Taken(today=2)) == "DAILY_QUOTA_REACHED"
    assert refusal_of(reward(), 100, taken=rules.Taken(1000, 1000)) == ""  # 0: no limit, no quota


def test_the_member_s_points_are_checked_only_when_known() -> None:
    assert refusal_of(reward(), 2, available=80) == ""
    assert refusal_of(reward(), 2, available=79) == "INSUFFICIENT_POINTS"
    assert refusal_of(reward(), 2) == ""  # Redeem leaves the points to the ledger's hold


def test_the_first_rule_broken_is_the_one_named_in_redeem_s_order() -> None:
    everything_wrong = reward(stock=0, per_volunteer_limit=1, daily_quota=1, valid_from=NOW + timedelta(days=1))
    taken = rules.Taken(by_member=1, today=1)
    assert refusal_of(everything_wrong, taken=taken, available=0) == "REWARD_NOT_VALID"
    assert refusal_of(reward(stock=0, per_volunteer_limit=1), taken=taken, available=0) == "OUT_OF_STOCK"
    assert refusal_of(reward(per_volunteer_limit=1, daily_quota=1), taken=taken, available=0) == (
        "MEMBER_LIMIT_REACHED")
    assert refusal_of(reward(daily_quota=1), taken=taken, available=0) == "DAILY_QUOTA_REACHED"
    refusal = rules.redeem_refusal(reward(daily_quota=1), 1, NOW, taken)
    assert refusal is not None and "first-aid kit" in refusal.message
    with pytest.raises(FailedPrecondition) as raised:
        rules.check_redeemable(reward(daily_quota=1), 1, NOW, taken)
    assert reason(raised) == "DAILY_QUOTA_REACHED"
    rules.check_redeemable(reward(), 1, NOW, rules.Taken())


@pytest.mark.parametrize(("value", "field"), [(0, "quantity"), (101, "quantity"), (-1, "quantity")])
def test_quantities_are_1_to_100(value: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as bad:
        rules.check_quantity(value)
    assert [v.field for v in bad.value.violations] == [field]


def test_a_voided_redemption_tells_every_retry_why() -> None:
    refusal = rules.refused(redemption(state=rules.VOIDED, void_reason="INSUFFICIENT_POINTS", void_message="short"))
    assert (refusal.reason, refusal.message, refusal.metadata) == (
        "INSUFFICIENT_POINTS", "short", {"redemption": "merchants/health/redemptions/r-1"})
    assert rules.refused(redemption(state=rules.VOIDED)).reason == "REDEMPTION_ABORTED"


def test_the_ledger_day_is_the_day_in_shanghai() -> None:
    assert rules.ledger_day(datetime(2026, 11, 7, 15, 59, 59, tzinfo=UTC)) == "2026-11-07"
    assert rules.ledger_day(datetime(2026, 11, 7, 16, 0, tzinfo=UTC)) == "2026-11-08"


# -- refunds --------------------------------------------------------------------------------------

def test_a_refund_gives_back_what_was_asked_or_everything_left_within_the_window() -> None:
    window = timedelta(days=7)
    assert rules.refund_amount(redemption(), 10, NOW, window) == 10
    assert rules.refund_amount(redemption(refunded_points=10), 0, NOW, window) == 30
    for row, asked, when, expected in [
        (redemption(state=rules.PENDING), 0, NOW, "REDEMPTION_NOT_COMMITTED"),
        (redemption(), 0, NOW + window + timedelta(seconds=1), "REFUND_WINDOW_CLOSED"),
        (redemption(refunded_points=30), 11, NOW, "OVER_REFUND"),
        (redemption(refunded_points=40), 0, NOW, "OVER_REFUND"),
    ]:
        with pytest.raises(FailedPrecondition) as refused:
            rules.refund_amount(row, asked, when, window)
        assert reason(refused) == expected
    with pytest.raises(InvalidArgument):
        rules.check_refund_points(-1)


# -- member sessions ------------------------------------------------------------------------------

def session(terminal_id: str = "till-1", expires: datetime = NOW + timedelta(minutes=10)) -> MemberSession:
    return MemberSession(id="ms-1", card_number="12345678", step=1, terminal_id=terminal_id, merchant_id="health",
                         community_path=TILL.community_path, volunteer_id="v-1", masked_member="王*英",
                         expire_time=expires)


def test_a_session_is_live_for_the_terminal_that_opened_it_until_it_expires() -> None:
    live = live_session(TILL, session(), NOW)
    assert (live.session_id, live.volunteer_id, live.expire_time) == ("ms-1", "v-1", NOW + timedelta(minutes=10))
    for row in (None, session(terminal_id="till-2")):
        with pytest.raises(InvalidArgument) as unknown:
            live_session(TILL, row, NOW)
        assert unknown.value.reason == "MEMBER_SESSION_UNKNOWN"
    with pytest.raises(FailedPrecondition) as expired:
        live_session(TILL, session(expires=NOW), NOW)
    assert expired.value.reason == "MEMBER_SESSION_EXPIRED"


def test_members_redeem_in_their_community_s_programme_and_ids_are_plain_ascii() -> None:
    assert in_community("a/b/c", "a/b/c") and in_community("a/b/c/d", "a/b/c")
    assert not in_community("a/b/cd", "a/b/c") and not in_community("a/b", "a/b/c")
    assert check_volunteer_id(" v-001 ") == "v-001"
    for bad in ["", "v:1", "志愿者", "x" * 65]:
        with pytest.raises(InvalidArgument):
            check_volunteer_id(bad)


# -- rotating duty --------------------------------------------------------------------------------

def rotation() -> DutyRotation:
    return DutyRotation(community_path="c", partner_ids="u1,u2,u3", start_date="2026-11-02", period_days=7,
                        version="v")


def swap(a: int, b: int) -> DutySwap:
    return DutySwap(community_path="c", version="v", request_id=f"s-{a}-{b}", first_index=a, second_index=b)


def test_units_take_their_turn_and_swaps_apply_in_the_order_they_were_made() -> None:
    plain = assignments(rotation(), [], range(4))
    assert [(p.start_date, p.end_date, p.partner_id, p.swapped) for p in plain] == [
        (date(2026, 11, 2), date(2026, 11, 8), "u1", False), (date(2026, 11, 9), date(2026, 11, 15), "u2", False),
        (date(2026, 11, 16), date(2026, 11, 22), "u3", False), (date(2026, 11, 23), date(2026, 11, 29), "u1", False)]
    swapped = assignments(rotation(), [swap(1, 3), swap(3, 2)], range(4))
    assert [(p.partner_id, p.swapped) for p in swapped] == [("u1", False), ("u1", True), ("u2", True), ("u3", True)]
    back = assignments(rotation(), [swap(0, 1), swap(0, 1)], range(2))
    assert [(p.partner_id, p.swapped) for p in back] == [("u1", False), ("u2", False)]


def test_the_period_of_a_day_and_the_units_of_a_rotation() -> None:
    assert period_index(rotation(), date(2026, 11, 9)) == 1
    assert period_index(rotation(), date(2026, 11, 8)) == 0
    assert period_index(rotation(), date(2026, 1, 1)) == 0  # before the start: the first
    assert check_units(["u1", "u2"]) == ["u1", "u2"]
    for bad in ([], ["u1", "u1"], [f"u{i}" for i in range(201)]):
        with pytest.raises(InvalidArgument):
            check_units(bad)


# -- settlement -----------------------------------------------------------------------------------

def entry(transfer_id: str, kind: TransferKind, change: int, when: datetime = NOW) -> ClearingEntry:
    return ClearingEntry(Transfer(transfer_id, kind, abs(change), when), change)


def test_only_posts_and_reversals_of_the_day_count_as_the_ledger_s_movements() -> None:
    assert movement(entry("h:post", TransferKind.POST, 40), "2026-11-07") == 40
    assert movement(entry("refund:1", TransferKind.REVERSAL, -10), "2026-11-07") == -10
    assert movement(entry("h", TransferKind.PENDING, 40), "2026-11-07") == 0
    assert movement(entry("h:void", TransferKind.VOID, -40), "2026-11-07") == 0
    assert movement(entry("h:post", TransferKind.POST, 40, NOW + timedelta(hours=7)), "2026-11-07") == 0


def test_reconciliation_lists_every_transfer_the_two_sides_disagree_on() -> None:
    settled = [DailySettlement("health", "2026-11-07", 2, 80, 1, 10)]
    assert settled[0].net_points == 70
    agreed = compare("c", "2026-11-07", {"a": 40, "b": 40, "r": -10}, {"a": 40, "b": 40, "r": -10}, settled)
    assert agreed.balanced and agreed.mismatches == []
    assert (agreed.recorded_redeemed_points, agreed.recorded_refunded_points) == (80, 10)
    off = compare("c", "2026-11-07", {"a": 40, "b": 40}, {"a": 40, "c": 25}, settled)
    assert not off.balanced
    assert [(m.transfer_id, m.recorded_points, m.ledger_points) for m in off.mismatches] == [("b", 40, 0),
                                                                                             ("c", 0, 25)]


def test_a_reward_s_window_must_end_after_it_starts() -> None:
    check_window(NOW, NOW + timedelta(seconds=1))
    check_window(None, NOW)
    with pytest.raises(InvalidArgument) as bad:
        check_window(NOW, NOW)
    assert [v.field for v in bad.value.violations] == ["reward.valid_until"]
