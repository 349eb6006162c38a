"""What an operator's dashboard shows for an org unit (a city, a district, a street…), read
with the operator's own token so each service applies its scope rules: rollout of the trust
model by street/town, volunteers and awards by community, help requests' response times
against the community's SLA, and redemptions by merchant over recent days."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import org_pb2, rollout_pb2
from linli.notification.v1 import notification_pb2 as help_pb2
from linli.points.v1 import awards_pb2
from linli.redemption.v1 import admin_pb2
from linli_portal import charts
from linli_portal.backends import Backends, as_operator
from linli_portal.fmt import percent, today_cst
from linli_portal.snapshots import DEFAULT_TTL_S, Snapshot, Snapshots

STAGES = [
    (rollout_pb2.ROLLOUT_STAGE_NOT_STARTED, "未启动 Not started", "#9ca3af"),
    (rollout_pb2.ROLLOUT_STAGE_SURVEYED, "已调研 Surveyed", "#93c5fd"),
    (rollout_pb2.ROLLOUT_STAGE_PILOT, "试点 Pilot", "#60a5fa"),
    (rollout_pb2.ROLLOUT_STAGE_IMPORTING, "导入中 Importing", "#f59e0b"),
    (rollout_pb2.ROLLOUT_STAGE_ADOPTED, "已实施 Adopted", "#047857"),
    (rollout_pb2.ROLLOUT_STAGE_EXITED, "已退出 Exited", "#7f1d1d"),
]
URGENCY_NAMES = {help_pb2.URGENCY_CRITICAL: "紧急 Critical", help_pb2.URGENCY_HIGH: "高 High",
                 help_pb2.URGENCY_NORMAL: "一般 Normal", help_pb2.URGENCY_LOW: "低 Low"}
TIER_NAMES = {1: "gold", 2: "silver", 3: "bronze"}
T = TypeVar("T")


def _minutes(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


@dataclass
class RolloutRow:
    key: str
    name: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass
class CommunityActivity:
    path: str
    name: str
    volunteers: int
    active: int
    points: int
    top: list[awards_pb2.Ranking]
    award_year: int
    awards: dict[str, int]
    district: str = ""  # the community's district's path ("" above none: a page at a street or below)
    street: str = ""  # its street/town's path


@dataclass
class HelpRow:
    """One community's help requests, from notification's SummarizeHelpRequests."""

    path: str
    name: str
    requests: int = 0
    acknowledged: int = 0
    within_sla: int = 0
    open_now: int = 0
    overdue_now: int = 0
    p50_seconds: int = 0
    p90_seconds: int = 0
    sla_normal: int = 60
    by_urgency: list[help_pb2.HelpRequestStats] = field(default_factory=list)

    @property
    def median_minutes(self) -> float:
        return self.p50_seconds / 60

    @property
    def median(self) -> str:
        return _minutes(self.p50_seconds / 60) if self.acknowledged else "—"

    @property
    def p90(self) -> str:
        return _minutes(self.p90_seconds / 60) if self.acknowledged else "—"

    @property
    def within_share(self) -> str:
        return percent(self.within_sla, self.acknowledged)


@dataclass
class MerchantRow:
    merchant_id: str
    name: str
    community: str
    redemptions: int = 0
    community_path: str = ""
    redeemed: int = 0
    refunds: int = 0
    refunded: int = 0

    @property
    def net(self) -> int:
        return self.redeemed - self.refunded


@dataclass
class Dashboard:
    unit: org_pb2.OrgUnit
    ancestors: list[org_pb2.OrgUnit]
    children: list[org_pb2.OrgUnit]
    headline: str
    compound_count: int
    rollout: list[RolloutRow]
    totals: list[int]
    communities: list[CommunityActivity]
    quiet_communities: int
    help_rows: list[HelpRow]
    merchants: list[MerchantRow]
    days: int
    unbalanced_days: list[str]
    year: int
    problems: list[str]
    # Seconds each part of the page took to read (org, rollout, points, help, redemptions): the
    # route sends them as a Server-Timing header, so a slow page says which service made it slow.
    timings: dict[str, float] = field(default_factory=dict)
    every_community: list[CommunityActivity] = field(default_factory=list)  # quiet ones too, tree order
    area_names: dict[str, str] = field(default_factory=dict)  # district's and street's names by path
    taken_at: datetime | None = None  # UTC: when the points and redemptions were read, if not on this load
    summing: bool = False  # the points and redemptions are still being read (shown on the next load)

    def server_timing(self, **more: float) -> str:
        """The `Server-Timing` header value (durations in ms)."""
        return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in {**self.timings, **more}.items())

    def rollout_chart(self) -> str:
        desc = "; ".join(f"{r.name}: " + ", ".join(f"{n} {label}" for n, (_, label, _) in zip(r.counts, STAGES,
                                                                                                  strict=True) if n)
                         for r in self.rollout)
        return charts.stacked([(r.name, r.counts) for r in self.rollout], [(label, c) for _, label, c in STAGES],
                              title="按街道/镇的推进情况 Rollout by street/town", desc=desc,
                              label=lambda n: f"{n} 个小区")


async def _children(b: Backends, path: str, call: dict[str, Any], down_to_kind: int = 0) -> list[org_pb2.OrgUnit]:
    """A unit's children (`down_to_kind` 0), or its whole subtree down to that kind, every page."""
    units: list[org_pb2.OrgUnit] = []
    token = ""
    while True:
        page = await b.org.ListOrgUnits(org_pb2.ListOrgUnitsRequest(
            parent_path=path, page_size=0 if down_to_kind else 500, page_token=token,
            down_to_kind=cast(Any, down_to_kind)), **call)
        units.extend(page.org_units)
        token = page.next_page_token
        if not token:
            return units


@dataclass
class OrgWalk:
    """What the page needs of the tree below its unit, read in one ListOrgUnits (down to the
    communities) instead of a call per district and street: the unit's children (the scope
    picker and the drill-down), its communities, and every unit's name by path."""

    children: list[org_pb2.OrgUnit]
    communities: list[org_pb2.OrgUnit]
    names: dict[str, str]


async def walk(b: Backends, unit: org_pb2.OrgUnit, call: dict[str, Any]) -> OrgWalk:
    if unit.kind < org_pb2.ORG_UNIT_KIND_COMMUNITY:
        below = await _children(b, unit.path, call, down_to_kind=org_pb2.ORG_UNIT_KIND_COMMUNITY)
        return OrgWalk([u for u in below if u.parent_path == unit.path],
                       [u for u in below if u.kind == org_pb2.ORG_UNIT_KIND_COMMUNITY],
                       {u.path: u.display_name for u in below})
    children = await _children(b, unit.path, call) if unit.kind < org_pb2.ORG_UNIT_KIND_COMPOUND else []
    return OrgWalk(children, [unit] if unit.kind == org_pb2.ORG_UNIT_KIND_COMMUNITY else [], {})


async def communities_under(b: Backends, unit: org_pb2.OrgUnit, call: dict[str, Any]) -> list[org_pb2.OrgUnit]:
    """Every community at or below `unit` (compounds and households below them are not needed)."""
    return (await walk(b, unit, call)).communities


async def _timed(coro: Awaitable[T], timings: dict[str, float], name: str) -> T:
    started = time.perf_counter()
    try:
        return await coro
    finally:
        timings[name] = time.perf_counter() - started


async def _quietly(coro: Any, default: Any, problems: list[str], what: str) -> Any:
    """A section that cannot be read shows as empty with a note, instead of failing the page."""
    try:
        return await coro
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND,):
            return default
        problems.append(f"{what}: {exc.code().name} {exc.details()}")
        return default


async def _rollout(b: Backends, path: str, call: dict[str, Any]) -> rollout_pb2.SummarizeRolloutResponse:
    reply: rollout_pb2.SummarizeRolloutResponse = await b.rollout.SummarizeRollout(
        rollout_pb2.SummarizeRolloutRequest(path=path), **call)
    return reply


SUMMARIES_PER_CALL = 1000  # AwardService.SummarizeCommunities' and SettlementService.SummarizeRedemptions' limit


def _activity(c: org_pb2.OrgUnit, summary: awards_pb2.CommunitySummary) -> CommunityActivity:
    awards: dict[str, int] = {}
    if summary.volunteer_count:  # as before: a community nobody belongs to shows no awards
        for t in summary.award_tiers:
            tier = TIER_NAMES.get(int(t.tier), "other")
            awards[tier] = awards.get(tier, 0) + t.count
    return CommunityActivity(c.path, c.display_name, summary.volunteer_count, summary.earner_count,
                             summary.points_earned, list(summary.top),
                             summary.award_year if summary.volunteer_count else 0, awards)


async def _activities(b: Backends, communities: list[org_pb2.OrgUnit], year: int, call: dict[str, Any],
                      problems: list[str]) -> list[CommunityActivity | None]:
    """Every community's volunteers, points and awards: one SummarizeCommunities call per 1000
    communities, summed up by volunteer-points' database (not a dozen calls per community)."""
    chunks = [communities[i:i + SUMMARIES_PER_CALL] for i in range(0, len(communities), SUMMARIES_PER_CALL)]
    replies = await asyncio.gather(*(_quietly(b.awards.SummarizeCommunities(awards_pb2.SummarizeCommunitiesRequest(
        community_paths=[c.path for c in chunk], year=year), **call), None, problems,
        f"volunteers {chunk[0].path} …") for chunk in chunks))
    found: list[CommunityActivity | None] = []
    for chunk, reply in zip(chunks, replies, strict=True):
        if reply is None:
            found.extend([None] * len(chunk))
        else:
            found.extend(_activity(c, summary) for c, summary in zip(chunk, reply.communities, strict=True))
    return found


async def _help(b: Backends, path: str, communities: list[org_pb2.OrgUnit], call: dict[str, Any],
                now: datetime, days: int) -> list[HelpRow]:
    since = Timestamp()
    since.FromDatetime(now - timedelta(days=days))
    reply = await b.help_requests.SummarizeHelpRequests(help_pb2.SummarizeHelpRequestsRequest(
        parent="communities/-", start_time=since), **call)
    names = {c.path: c.display_name for c in communities}
    rows: dict[str, HelpRow] = {}
    for s in reply.stats:
        if not (s.community_path == path or s.community_path.startswith(path + "/")):
            continue  # the operator's scope may be wider than this page
        name = names.get(s.community_path, s.community_path.rsplit("/", 1)[-1])
        row = rows.setdefault(s.community_path, HelpRow(s.community_path, name))
        if s.urgency == help_pb2.URGENCY_UNSPECIFIED:
            row.requests, row.acknowledged, row.within_sla = s.request_count, s.acknowledged_count, s.within_sla_count
            row.open_now, row.overdue_now = s.waiting_count, s.overdue_count
            row.p50_seconds, row.p90_seconds = s.acknowledge_p50_seconds, s.acknowledge_p90_seconds
        else:
            row.by_urgency.append(s)
            if s.urgency == help_pb2.URGENCY_NORMAL:
                row.sla_normal = s.sla_minutes
    return [rows[p] for p in sorted(rows)]


async def _merchants(b: Backends, communities: list[org_pb2.OrgUnit], days: int, call: dict[str, Any],
                     now: datetime) -> tuple[list[MerchantRow], list[str]]:
    """Every merchant's redemptions over the last `days` days and the days that do not balance
    with the ledger: one SummarizeRedemptions call per 1000 communities, summed up by
    partner-redemption's and volunteer-points' databases (not ListPartners per community and
    ReconcileDay per community and day)."""
    first, last = (now - timedelta(days=days - 1)).strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d")
    chunks = [communities[i:i + SUMMARIES_PER_CALL] for i in range(0, len(communities), SUMMARIES_PER_CALL)]
    replies = await asyncio.gather(*(b.settlements.SummarizeRedemptions(admin_pb2.SummarizeRedemptionsRequest(
        community_paths=[c.path for c in chunk], start_date=first, end_date=last), **call) for chunk in chunks))
    names = {c.path: c.display_name for c in communities}
    rows: list[MerchantRow] = []
    unbalanced: list[str] = []
    for reply in replies:
        rows.extend(MerchantRow(m.merchant_id, m.display_name, names.get(m.community_path, m.community_path),
                                m.redemption_count, m.community_path, m.redeemed_points, m.refund_count,
                                m.refunded_points) for m in reply.merchants)
        unbalanced.extend(f"{d.community_path.rsplit('/', 1)[-1]} {d.date}" for d in reply.unbalanced_days)
    ordered = sorted(rows, key=lambda m: (-m.net, m.merchant_id))
    return ordered, sorted(unbalanced)


@dataclass
class Sums:
    """The page's two costliest sections, summed up by volunteer-points and partner-redemption
    over every community of the unit: what `snapshots.Snapshots` keeps between loads."""

    activity: dict[str, CommunityActivity]  # by community path; a community missing was not read
    merchants: list[MerchantRow]
    unbalanced: list[str]
    problems: list[str]
    timings: dict[str, float]


SUMS_DEADLINE_S = 120.0  # the sums' calls: read in the background, not against the page's 5 s
PAGE_WAIT_S = 1.5  # how long a page waits for sums it has no snapshot of before saying they are coming
TREE_TTL_S = 60.0  # the org tree below a unit, kept this long (a new community shows within a minute)


async def read_sums(b: Backends, communities: list[org_pb2.OrgUnit], call: dict[str, Any], *, year: int,
                    days: int, now: datetime) -> Sums:
    problems: list[str] = []
    timings: dict[str, float] = {}
    call = {**call, "timeout": SUMS_DEADLINE_S}
    activity, (merchants, unbalanced) = await asyncio.gather(
        _timed(_activities(b, communities, year, call, problems), timings, "points"),
        _timed(_quietly(_merchants(b, communities, days, call, now), ([], []), problems, "redemptions"),
               timings, "redemptions"),
    )
    return Sums({a.path: a for a in activity if a is not None}, merchants, unbalanced, problems, timings)


def _fully_read(sums: Sums) -> bool:
    return not sums.problems


@dataclass
class Kept:
    """What the portal keeps between an operator page's loads (one per app)."""

    sums: Snapshots[Sums]  # points and redemptions, DEFAULT_TTL_S; sums with a problem are not kept
    trees: Snapshots[OrgWalk]  # the org tree below a unit, TREE_TTL_S

    async def close(self) -> None:
        await self.sums.close()
        await self.trees.close()


def snapshots(ttl: float = DEFAULT_TTL_S, tree_ttl: float = TREE_TTL_S) -> Kept:
    return Kept(Snapshots(ttl=ttl, keep=_fully_read), Snapshots(ttl=tree_ttl))


async def load(b: Backends, path: str, token: str, *, days: int = 7, now: datetime | None = None,
               kept: Kept | None = None, role: str = "", fresh: bool = False,
               wait: float | None = PAGE_WAIT_S) -> Dashboard:
    """Raises AioRpcError (NOT_FOUND, PERMISSION_DENIED) when the unit itself cannot be read.
    With `kept`, the org tree below the unit and the points and redemptions sections come from
    its snapshots of (`path`, `role`[, year, `days`]) — see `snapshots` — `fresh` reads the sums
    anew (the tree is kept a minute at most either way), and a page without a snapshot of its
    sums waits `wait` seconds for them at most."""
    call = as_operator(token)
    now = today_cst(now)
    problems: list[str] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    unit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path), **call)).org_unit
    parents = [path.rsplit("/", i)[0] for i in range(1, path.count("/") + 1)]
    async def read_tree() -> OrgWalk:
        return await walk(b, unit, call)

    async def tree_of() -> OrgWalk:
        if kept is None:
            return await read_tree()
        # Not read anew for `fresh`: "refresh now" is about the figures; the tree is at most
        # TREE_TTL_S old (a new community shows within a minute), and walking 5,000 communities
        # again would add its half second to every live load.
        snapshot, _ = await kept.trees.get((path, role), read_tree)
        assert snapshot is not None  # waited for without a bound
        return snapshot.value

    ancestors_replies, tree = await asyncio.gather(
        asyncio.gather(*(_quietly(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=p), **call), None, problems,
                                  "org") for p in reversed(parents))),
        tree_of(),
    )
    timings["org"] = time.perf_counter() - started
    ancestors = [r.org_unit for r in ancestors_replies if r is not None]
    communities = tree.communities

    async def read() -> Sums:
        return await read_sums(b, communities, call, year=now.year, days=days, now=now)

    sums_at = (kept.sums.get((path, role, now.year, days), read, fresh=fresh, wait=None if fresh else wait)
               if kept is not None else _read_now(read))
    summary, help_rows, (snapshot, fresh_read) = await asyncio.gather(
        _timed(_quietly(_rollout(b, path, call), rollout_pb2.SummarizeRolloutResponse(), problems, "rollout"),
               timings, "rollout"),
        _timed(_quietly(_help(b, path, communities, call, now, days), [], problems, "help requests"),
               timings, "help"),
        sums_at,
    )
    summing = snapshot is None  # still being read, past the page's wait
    sums = snapshot.value if snapshot is not None else Sums({}, [], [], [], {})
    if fresh_read and not summing:
        timings.update(sums.timings)
    problems.extend(sums.problems)
    stage_index = {stage: i for i, (stage, _, _) in enumerate(STAGES)}
    street_names = {c.path: c.display_name for c in tree.children}
    rollout_rows = []
    for group in summary.by_street:
        counts = [0] * len(STAGES)
        for sc in group.counts:
            if sc.stage in stage_index:
                counts[stage_index[sc.stage]] += sc.count
        name = street_names.get(group.key) or tree.names.get(group.key, "")
        rollout_rows.append(RolloutRow(group.key, name or group.key.rsplit("/", 1)[-1], counts))
    if rollout_rows and not all(r.key in street_names or r.key in tree.names for r in rollout_rows):
        names = await asyncio.gather(*(_quietly(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=r.key), **call),
                                                None, problems, "org") for r in rollout_rows))
        for row, reply in zip(rollout_rows, names, strict=True):
            if reply is not None:
                row.name = reply.org_unit.display_name
    totals = [0] * len(STAGES)
    for sc in summary.totals:
        if sc.stage in stage_index:
            totals[stage_index[sc.stage]] += sc.count
    every = [_placed(sums.activity.get(c.path) or _quiet(c), unit) for c in communities]
    active = [a for a in every if a.volunteers]
    area_names = {**tree.names, unit.path: unit.display_name, **{a.path: a.display_name for a in ancestors}}
    return Dashboard(unit=unit, ancestors=ancestors, children=tree.children, headline=summary.headline,
                     compound_count=summary.compound_count, rollout=rollout_rows, totals=totals,
                     communities=sorted(active, key=lambda a: (-a.points, a.path)),
                     quiet_communities=len(communities) - len(active), help_rows=help_rows,
                     merchants=sums.merchants, days=days, unbalanced_days=sums.unbalanced, year=now.year,
                     problems=problems, timings=timings, every_community=every, area_names=area_names,
                     taken_at=snapshot.taken_at if snapshot is not None and not fresh_read else None,
                     summing=summing)


async def _read_now(read: Callable[[], Awaitable[Sums]]) -> tuple[Snapshot[Sums] | None, bool]:
    taken = datetime.now(UTC)
    return Snapshot(await read(), taken, 0.0), True


def _quiet(c: org_pb2.OrgUnit) -> CommunityActivity:
    return CommunityActivity(c.path, c.display_name, 0, 0, 0, [], 0, {})


def _placed(a: CommunityActivity, unit: org_pb2.OrgUnit) -> CommunityActivity:
    """The community's district and street, by the tree's levels (a street's parent is its
    district): blank where the page's unit is below that level."""
    street = a.path.rsplit("/", 1)[0]
    if unit.kind <= org_pb2.ORG_UNIT_KIND_STREET:
        a.street = street
    if unit.kind <= org_pb2.ORG_UNIT_KIND_DISTRICT:
        a.district = street.rsplit("/", 1)[0]
    return a
