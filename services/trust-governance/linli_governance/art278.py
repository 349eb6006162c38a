"""PRC Civil Code art. 278: pure vote arithmetic, no I/O.

Participation (表决): owners holding at least 2/3 of the exclusive floor area AND at least 2/3
of the owners take part. A matter then passes with:
- special matters (raising maintenance funds, rebuilding, changing the use of common parts):
  at least 3/4 of the participating area AND at least 3/4 of the participating owners;
- other matters (using the maintenance fund, budgets, electing the committee, hiring the
  trustee, …): MORE than half of the participating area AND of the participating owners.

Each household is one owner with one ballot (the register has no person-level ownership).
Abstentions count as participation but not as consent. All comparisons are on integers
(cross-multiplied), so "exactly 2/3" never depends on floating point.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Rule(Enum):
    SPECIAL = "special"  # >= 3/4
    ORDINARY = "ordinary"  # > 1/2


class Outcome(Enum):
    PASSED = "passed"
    NO_QUORUM = "no_quorum"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Ballot:
    area_dm2: int
    consent: bool  # False for both "against" and "abstain"


@dataclass(frozen=True)
class Tally:
    electorate_area_dm2: int
    electorate_households: int
    participating_area_dm2: int
    participating_households: int
    for_area_dm2: int
    for_households: int
    quorum_by_area: bool
    quorum_by_households: bool
    approved_by_area: bool
    approved_by_households: bool

    @property
    def outcome(self) -> Outcome:
        if not (self.quorum_by_area and self.quorum_by_households):
            return Outcome.NO_QUORUM
        if self.approved_by_area and self.approved_by_households:
            return Outcome.PASSED
        return Outcome.REJECTED


def at_least_two_thirds(part: int, whole: int) -> bool:
    return whole > 0 and 3 * part >= 2 * whole


def at_least_three_quarters(part: int, whole: int) -> bool:
    return whole > 0 and 4 * part >= 3 * whole


def more_than_half(part: int, whole: int) -> bool:
    return whole > 0 and 2 * part > whole


def tally(electorate_area_dm2: int, electorate_households: int, ballots: Iterable[Ballot], rule: Rule) -> Tally:
    if electorate_area_dm2 <= 0 or electorate_households <= 0:
        raise ValueError("a vote needs an electorate with floor area and households")
    cast = list(ballots)
    part_area = sum(b.area_dm2 for b in cast)
    part_count = len(cast)
    for_area = sum(b.area_dm2 for b in cast if b.consent)
    for_count = sum(1 for b in cast if b.consent)
    passes = at_least_three_quarters if rule is Rule.SPECIAL else more_than_half
    return Tally(
        electorate_area_dm2=electorate_area_dm2,
        electorate_households=electorate_households,
        participating_area_dm2=part_area,
        participating_households=part_count,
        for_area_dm2=for_area,
        for_households=for_count,
        quorum_by_area=at_least_two_thirds(part_area, electorate_area_dm2),
        quorum_by_households=at_least_two_thirds(part_count, electorate_households),
        approved_by_area=passes(for_area, part_area),
        approved_by_households=passes(for_count, part_count),
    )
