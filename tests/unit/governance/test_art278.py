"""PRC Civil Code art. 278 at the edges of its thresholds, by area and by headcount
separately."""

from __future__ import annotations

import pytest
from linli_governance.art278 import (
    DEVELOPER,
    Ballot,
    Outcome,
    Rule,
    Unit,
    at_least_three_quarters,
    at_least_two_thirds,
    electorate,
    more_than_half,
    tally,
)


def ballots(*spec: tuple[int, bool]) -> list[Ballot]:
    return [Ballot(area_dm2=a, consent=c) for a, c in spec]


@pytest.mark.parametrize(
    "part, whole, expected",
    [(2, 3, True), (200, 300, True), (199, 300, False), (1999, 3000, False), (3, 3, True), (0, 3, False)],
)
def test_two_thirds_is_inclusive_and_exact(part: int, whole: int, expected: bool) -> None:
    assert at_least_two_thirds(part, whole) is expected


@pytest.mark.parametrize("part, whole, expected", [(3, 4, True), (75, 100, True), (74, 100, False), (299, 400, False)])
def test_three_quarters_is_inclusive(part: int, whole: int, expected: bool) -> None:
    assert at_least_three_quarters(part, whole) is expected


@pytest.mark.parametrize("part, whole, expected", [(51, 100, True), (50, 100, False), (2, 3, True), (1, 2, False)])
def test_more_than_half_is_strict(part: int, whole: int, expected: bool) -> None:
    assert more_than_half(part, whole) is expected


def test_zero_of_zero_never_passes() -> None:
    assert not at_least_two_thirds(0, 0) and not at_least_three_quarters(0, 0) and not more_than_half(0, 0)


def test_participation_of_exactly_two_thirds_by_area_and_headcount_is_a_quorum() -> None:
    # 6 households of 100 m² (10000 dm²); 4 of them (2/3 of area and of owners) take part.
    t = tally(60_000, 6, ballots(*[(10_000, True)] * 4), Rule.ORDINARY)
    assert t.quorum_by_area and t.quorum_by_households
    assert t.outcome is Outcome.PASSED


def test_participation_just_under_two_thirds_of_area_is_no_quorum_even_with_enough_owners() -> None:
    # 3 households; 2 take part (2/3 of owners) but hold 1 dm² less than 2/3 of the area.
    electorate_area = 30_000
    t = tally(electorate_area, 3, ballots((10_000, True), (9_999, True)), Rule.ORDINARY)
    assert t.quorum_by_households and not t.quorum_by_area
    assert t.outcome is Outcome.NO_QUORUM


def test_participation_just_under_two_thirds_of_owners_is_no_quorum_even_with_enough_area() -> None:
    # 100 households; 66 take part (just under 2/3 of 100) but they hold most of the area.
    t = tally(1_000_000, 100, ballots(*[(15_000, True)] * 66), Rule.ORDINARY)
    assert t.quorum_by_area and not t.quorum_by_households
    assert t.outcome is Outcome.NO_QUORUM
    t = tally(1_000_000, 100, ballots(*[(15_000, True)] * 67), Rule.ORDINARY)
    assert t.outcome is Outcome.PASSED


def test_special_matter_passes_at_exactly_three_quarters_of_participating_area_and_owners() -> None:
    # 4 participants of equal area, 3 consent: exactly 3/4 of both.
    t = tally(40_000, 4, ballots((10_000, True), (10_000, True), (10_000, True), (10_000, False)), Rule.SPECIAL)
    assert t.approved_by_area and t.approved_by_households and t.outcome is Outcome.PASSED


def test_special_matter_fails_just_under_three_quarters_of_area_though_owners_suffice() -> None:
    t = tally(40_001, 4, ballots((10_000, True), (10_000, True), (9_999, True), (10_002, False)), Rule.SPECIAL)
    # 29999 of 40001 participating dm² is just under 3/4; headcount is exactly 3/4.
    assert t.approved_by_households and not t.approved_by_area
    assert t.outcome is Outcome.REJECTED


def test_special_matter_fails_just_under_three_quarters_of_owners_though_area_suffices() -> None:
    # 8 participants: 5 consent (5/8 < 3/4) but hold 90 % of the area.
    spec = [(18_000, True)] * 5 + [(3_333, False)] * 3
    t = tally(sum(a for a, _ in spec), 8, ballots(*spec), Rule.SPECIAL)
    assert t.approved_by_area and not t.approved_by_households
    assert t.outcome is Outcome.REJECTED


def test_two_thirds_consent_passes_an_ordinary_matter_but_not_a_special_one() -> None:
    spec = [(10_000, True)] * 2 + [(10_000, False)]
    assert tally(30_000, 3, ballots(*spec), Rule.ORDINARY).outcome is Outcome.PASSED
    assert tally(30_000, 3, ballots(*spec), Rule.SPECIAL).outcome is Outcome.REJECTED


def test_ordinary_matter_needs_more_than_half_exactly_half_fails() -> None:
    # by headcount: 2 of 4 consent, with 60 % of area
    t = tally(40_000, 4, ballots((12_000, True), (12_000, True), (8_000, False), (8_000, False)), Rule.ORDINARY)
    assert t.approved_by_area and not t.approved_by_households and t.outcome is Outcome.REJECTED
    # by area: 3 of 4 consent, with exactly half the area
    t = tally(40_000, 4, ballots((5_000, True), (5_000, True), (10_000, True), (20_000, False)), Rule.ORDINARY)
    assert t.approved_by_households and not t.approved_by_area and t.outcome is Outcome.REJECTED


def test_abstentions_count_towards_participation_but_not_consent() -> None:
    # 3 of 3 take part; 1 for, 2 abstain → quorum, but not more than half.
    t = tally(30_000, 3, ballots((10_000, True), (10_000, False), (10_000, False)), Rule.ORDINARY)
    assert t.quorum_by_area and t.quorum_by_households and t.outcome is Outcome.REJECTED


def test_an_empty_electorate_is_refused() -> None:
    with pytest.raises(ValueError):
        tally(0, 0, [], Rule.ORDINARY)


# -- owners as the judicial interpretation (法释〔2009〕7号 arts. 8-9) counts them -----------------


def test_unregistered_units_are_each_their_own_owner() -> None:
    voters = electorate([Unit("c/b1/h101", 9_000), Unit("c/b1/h102", 11_000)])
    assert [(v.key, v.area_dm2, v.households) for v in voters] == [
        ("c/b1/h101", 9_000, ("c/b1/h101",)),
        ("c/b1/h102", 11_000, ("c/b1/h102",)),
    ]


def test_one_buyer_of_several_units_is_one_owner_with_all_their_area() -> None:
    voters = electorate(
        [Unit("c/b1/h101", 9_000, "zhang"), Unit("c/b2/h301", 12_000, "zhang"), Unit("c/b1/h102", 10_000, "li")]
    )
    assert [(v.key, v.area_dm2, len(v.households)) for v in voters] == [
        ("owner:li", 10_000, 1),
        ("owner:zhang", 21_000, 2),
    ]


def test_the_developers_unsold_and_undelivered_units_are_one_owner() -> None:
    units = [Unit(f"c/b9/h{i}", 8_000, developer_held=True) for i in range(5)] + [Unit("c/b1/h101", 9_000)]
    voters = electorate(units)
    developer = next(v for v in voters if v.key == DEVELOPER)
    assert (developer.area_dm2, len(developer.households), len(voters)) == (40_000, 5, 2)


def test_counted_that_way_a_developer_with_most_of_the_area_cannot_pass_a_vote_alone() -> None:
    """8 unsold units (64,000 dm²) and 3 owners (30,000 dm²): by area the developer alone holds
    more than 2/3 of the electorate's area, but it is one owner of four, so it cannot make the
    quorum alone — and with the three owners against, the headcount rejects."""
    voters = electorate(
        [Unit(f"c/b9/h{i}", 8_000, developer_held=True) for i in range(8)]
        + [Unit(f"c/b1/h10{i}", 10_000) for i in range(3)]
    )
    area = sum(v.area_dm2 for v in voters)
    alone = tally(area, len(voters), [Ballot(64_000, True)], Rule.ORDINARY)
    assert (len(voters), alone.quorum_by_area, alone.quorum_by_households) == (4, True, False)
    assert alone.outcome is Outcome.NO_QUORUM
    everyone = tally(area, len(voters), [Ballot(64_000, True)] + [Ballot(10_000, False)] * 3, Rule.ORDINARY)
    assert (everyone.approved_by_area, everyone.approved_by_households, everyone.outcome) == (
        True,
        False,
        Outcome.REJECTED,
    )
