"""PRC Civil Code art. 278: pure vote arithmetic, no I/O.

Participation (表决): owners holding at least 2/3 of the exclusive floor area AND at least 2/3
of the owners take part. A matter then passes with:
- special matters (raising maintenance funds, rebuilding, changing the use of common parts):
  at least 3/4 of the participating area AND at least 3/4 of the participating owners;
- other matters (using the maintenance fund, budgets, electing the committee, hiring the
  trustee, …): MORE than half of the participating area AND of the participating owners.

Who is an owner, and with what area, is the Supreme People's Court's interpretation on disputes
over the distinct ownership of buildings (法释〔2009〕7号, amended 2020), arts. 8 and 9, applied by
`electorate`:

- area (art. 8): every unit's exclusive floor area counts, the developer's unsold units
  included;
- owners (art. 9): one unit is one owner — but all the units the developer has not sold, or
  has sold and not delivered, count together as ONE owner, and one buyer of several units is
  ONE owner.

So each owner has one ballot that carries the area of all their units. A unit the owners'
register has no entry for is its own owner. Abstentions count as participation but not as
consent. All comparisons are on integers (cross-multiplied), so "exactly 2/3" never depends on
floating point.
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


DEVELOPER = "developer"


@dataclass(frozen=True)
class Unit:
    """A unit (household) as the owners' register has it: its area, and its owner's register id
    ("" when unregistered: the unit is its own owner), or held by the developer."""

    household: str
    area_dm2: int
    owner_id: str = ""
    developer_held: bool = False


@dataclass(frozen=True)
class Voter:
    """One owner as art. 278 counts them: one ballot, the area of all their units."""

    key: str
    area_dm2: int
    households: tuple[str, ...]


def owner_key(unit: Unit) -> str:
    """Whose ballot a unit's area goes with: the developer (all its unsold or undelivered units
    together), the registered owner, or the unit itself."""
    if unit.developer_held:
        return DEVELOPER
    return f"owner:{unit.owner_id}" if unit.owner_id else unit.household


def electorate(units: Iterable[Unit]) -> list[Voter]:
    """The owners of a compound by the judicial interpretation's arts. 8-9, in key order."""
    grouped: dict[str, list[Unit]] = {}
    for unit in units:
        grouped.setdefault(owner_key(unit), []).append(unit)
    return [
        Voter(key, sum(u.area_dm2 for u in held), tuple(sorted(u.household for u in held)))
        for key, held in sorted(grouped.items())
    ]


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
