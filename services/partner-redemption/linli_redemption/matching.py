"""Which resources could meet a need, best first, and why — a pure rule (no database), so the
ranking is tested on its own and reads the same everywhere.

A resource is a candidate when it has the need's category and is offered in the need's
community or in a place above it (a street's resource serves all its communities). Each
candidate gets reasons, each worth points; the score is their sum:

    reason                                                         points
    available when the need came in (no reason against it below)     100
    offered in the need's own community                                20
    offered from a place above it                                      10
    offered by the member unit on duty when the need came in            5
    spare capacity (a place per live project it can still serve)     1–5  (no limit: 5)
    serves on the weekday the need came in (or every day)              10

and what makes a candidate unavailable (it stays in the list, ranked below every available
one, so the person matching sees why it was passed over): the partner offering it is
suspended, its availability starts later or ended earlier, or it already serves as many live
(open or in-progress) projects as its capacity. Ties go to the resource offered first, then
by id, so the order is stable. Reasons carry a Chinese text for people first, English kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from linli_redemption.tables import Resource
from linli_runtime import times

AVAILABLE_POINTS = 100
SAME_COMMUNITY_POINTS, FROM_ABOVE_POINTS = 20, 10
ON_DUTY_POINTS = 5
MAX_CAPACITY_POINTS = 5
WEEKDAY_POINTS = 10
WEEKDAYS_ZH = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
WEEKDAYS_EN = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


@dataclass(frozen=True)
class NeedFacts:
    """What matching needs to know about a need."""

    community_path: str
    category: str
    day: date  # the China-time day it came in
    duty_partner_id: str  # "" when nobody was on duty


@dataclass(frozen=True)
class Candidate:
    """A resource with what its availability depends on."""

    resource: Resource
    partner_active: bool
    live_projects: int  # open or in-progress projects using it


@dataclass(frozen=True)
class Reason:
    code: str
    text: str  # Chinese, for people
    text_en: str
    points: int = 0
    against: bool = False  # makes the resource unavailable


@dataclass(frozen=True)
class Suggestion:
    resource: Resource
    score: int
    available: bool
    reasons: tuple[Reason, ...]


def weekdays_of(resource: Resource) -> list[int]:
    """ISO weekdays (1 = Monday) the resource serves; [] means every day."""
    return [int(d) for d in resource.weekdays.split(",") if d]


def reasons_for(need: NeedFacts, candidate: Candidate) -> list[Reason]:
    r = candidate.resource
    reasons = [Reason("CATEGORY_MATCH", f"类别相符：{r.category}", f"same category: {r.category}")]
    if r.community_path == need.community_path:
        reasons.append(Reason("SAME_COMMUNITY", "本社区的资源", "offered in this community", SAME_COMMUNITY_POINTS))
    else:
        reasons.append(Reason("FROM_ABOVE", f"上级（{r.community_path}）提供的资源",
                              f"offered from {r.community_path}, above this community", FROM_ABOVE_POINTS))
    if need.duty_partner_id and r.partner_id == need.duty_partner_id:
        reasons.append(Reason("ON_DUTY_UNIT", "由需求提出时的值班成员单位提供",
                              "offered by the member unit on duty when the need came in", ON_DUTY_POINTS))

    against: list[Reason] = []
    if not candidate.partner_active:
        against.append(Reason("PARTNER_SUSPENDED", "提供方已暂停合作", "the partner offering it is suspended",
                              against=True))
    day = need.day.isoformat()
    if r.available_from and day < r.available_from:
        against.append(Reason("NOT_YET_AVAILABLE", f"{r.available_from}起可用", f"available from {r.available_from}",
                              against=True))
    if r.available_until and day > r.available_until:
        against.append(Reason("NO_LONGER_AVAILABLE", f"已于{r.available_until}结束",
                              f"no longer available since {r.available_until}", against=True))
    if r.capacity:
        spare = r.capacity - candidate.live_projects
        if spare <= 0:
            against.append(Reason("FULLY_COMMITTED", f"名额已满（{candidate.live_projects}/{r.capacity}个项目）",
                                  f"fully committed ({candidate.live_projects} of {r.capacity} projects)",
                                  against=True))
        else:
            reasons.append(Reason("CAPACITY_LEFT", f"尚有{spare}个名额（共{r.capacity}个）",
                                  f"{spare} of {r.capacity} places free", min(spare, MAX_CAPACITY_POINTS)))
    else:
        reasons.append(Reason("NO_CAPACITY_LIMIT", "不限项目数", "no limit on projects", MAX_CAPACITY_POINTS))

    served = weekdays_of(r)
    weekday = need.day.isoweekday()
    if not served:
        reasons.append(Reason("SERVES_EVERY_DAY", "每天提供", "serves every day", WEEKDAY_POINTS))
    elif weekday in served:
        reasons.append(Reason("SERVES_THAT_DAY", f"{WEEKDAYS_ZH[weekday - 1]}提供服务",
                              f"serves on {WEEKDAYS_EN[weekday - 1]}", WEEKDAY_POINTS))
    else:
        reasons.append(Reason("NOT_THAT_DAY", f"{WEEKDAYS_ZH[weekday - 1]}不提供服务",
                              f"does not serve on {WEEKDAYS_EN[weekday - 1]}"))
    if not against:
        reasons.insert(1, Reason("AVAILABLE", "需求提出时可用", "available when the need came in", AVAILABLE_POINTS))
    return reasons + against


def rank(need: NeedFacts, candidates: list[Candidate], limit: int) -> list[Suggestion]:
    """The `limit` best candidates of the need's category, each with its reasons."""
    suggestions = []
    for candidate in candidates:
        if candidate.resource.category != need.category:
            continue
        reasons = reasons_for(need, candidate)
        suggestions.append(Suggestion(candidate.resource, sum(r.points for r in reasons),
                                      not any(r.against for r in reasons), tuple(reasons)))
    suggestions.sort(key=lambda s: (-s.score, times.as_utc(s.resource.create_time), s.resource.id))
    return suggestions[:limit]


def places_above(path: str) -> list[str]:
    """`a/b/c` → ["a/b/c", "a/b", "a"]: where a resource serving `path` may be offered."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
