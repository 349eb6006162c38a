"""What an operator's dashboard shows for an org unit (a city, a district, a street…), read
with the operator's own token so each service applies its scope rules: rollout of the trust
model by street/town, volunteers and awards by community, help requests' response times
against the community's SLA, and redemptions by merchant over recent days."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import org_pb2, rollout_pb2
from linli.notification.v1 import notification_pb2 as help_pb2
from linli.points.v1 import awards_pb2
from linli.redemption.v1 import admin_pb2
from linli_portal import charts
from linli_portal.backends import Backends, as_operator
from linli_portal.fmt import percent, points_short, today_cst

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

    def activity_chart(self) -> str:
        bars = [charts.Bar(c.name, c.points, f"{points_short(c.points)} 分 · {c.active} 人")
                for c in self.communities]
        desc = "; ".join(f"{c.name}: {c.points} points earned by {c.active} of {c.volunteers} volunteers"
                         for c in self.communities)
        return charts.hbars(bars, title=f"{self.year}年志愿积分 Points earned {self.year}", desc=desc)

    def help_chart(self) -> str:
        rows = [r for r in self.help_rows if r.acknowledged]
        bars = [charts.Bar(r.name, r.median_minutes, f"{r.median} 分钟 min (SLA {r.sla_normal})",
                           target=r.sla_normal, over=r.median_minutes > r.sla_normal) for r in rows]
        desc = "; ".join(f"{r.name}: median {r.median} minutes to acknowledge, SLA {r.sla_normal} minutes for "
                         f"normal urgency, {r.within_share} within SLA" for r in rows)
        return charts.hbars(bars, title="求助响应时间中位数 Median minutes to acknowledge", desc=desc,
                            target_is_track=False)

    def merchant_chart(self) -> str:
        rows = [m for m in self.merchants if m.redemptions]
        bars = [charts.Bar(m.name, m.net, f"{points_short(m.net)} 分 points · {m.redemptions} 笔") for m in rows]
        desc = "; ".join(f"{m.name}: {m.redemptions} redemptions, {m.net} points net" for m in rows)
        return charts.hbars(bars, title=f"近{self.days}天兑换 Redemptions by merchant, last {self.days} days",
                            desc=desc)


async def _children(b: Backends, path: str, call: dict[str, Any]) -> list[org_pb2.OrgUnit]:
    units: list[org_pb2.OrgUnit] = []
    token = ""
    while True:
        page = await b.org.ListOrgUnits(org_pb2.ListOrgUnitsRequest(parent_path=path, page_size=500,
                                                                    page_token=token), **call)
        units.extend(page.org_units)
        token = page.next_page_token
        if not token:
            return units


async def communities_under(b: Backends, unit: org_pb2.OrgUnit, call: dict[str, Any]) -> list[org_pb2.OrgUnit]:
    """Every community at or below `unit` (the walk stops at communities: compounds and
    households below them are not needed here)."""
    if unit.kind == org_pb2.ORG_UNIT_KIND_COMMUNITY:
        return [unit]
    if unit.kind > org_pb2.ORG_UNIT_KIND_COMMUNITY:
        return []
    children = await _children(b, unit.path, call)
    nested = await asyncio.gather(*(communities_under(b, c, call) for c in children
                                    if c.kind <= org_pb2.ORG_UNIT_KIND_COMMUNITY))
    return [c for group in nested for c in group]


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
                                m.redemption_count, m.redeemed_points, m.refund_count, m.refunded_points)
                    for m in reply.merchants)
        unbalanced.extend(f"{d.community_path.rsplit('/', 1)[-1]} {d.date}" for d in reply.unbalanced_days)
    ordered = sorted(rows, key=lambda m: (-m.net, m.merchant_id))
    return ordered, sorted(unbalanced)


async def load(b: Backends, path: str, token: str, *, days: int = 7, now: datetime | None = None) -> Dashboard:
    """Raises AioRpcError (NOT_FOUND, PERMISSION_DENIED) when the unit itself cannot be read."""
    call = as_operator(token)
    now = today_cst(now)
    problems: list[str] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    unit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path), **call)).org_unit
    parents = [path.rsplit("/", i)[0] for i in range(1, path.count("/") + 1)]
    ancestors_replies, children, communities = await asyncio.gather(
        asyncio.gather(*(_quietly(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=p), **call), None, problems,
                                  "org") for p in reversed(parents))),
        _children(b, path, call) if unit.kind < org_pb2.ORG_UNIT_KIND_COMPOUND else asyncio.sleep(0, []),
        communities_under(b, unit, call),
    )
    timings["org"] = time.perf_counter() - started
    ancestors = [r.org_unit for r in ancestors_replies if r is not None]
    summary, activity, help_rows, (merchants, unbalanced) = await asyncio.gather(
        _timed(_quietly(_rollout(b, path, call), rollout_pb2.SummarizeRolloutResponse(), problems, "rollout"),
               timings, "rollout"),
        _timed(_activities(b, communities, now.year, call, problems), timings, "points"),
        _timed(_quietly(_help(b, path, communities, call, now, days), [], problems, "help requests"),
               timings, "help"),
        _timed(_quietly(_merchants(b, communities, days, call, now), ([], []), problems, "redemptions"),
               timings, "redemptions"),
    )
    stage_index = {stage: i for i, (stage, _, _) in enumerate(STAGES)}
    street_names = {c.path: c.display_name for c in children}
    rollout_rows = []
    for group in summary.by_street:
        counts = [0] * len(STAGES)
        for sc in group.counts:
            if sc.stage in stage_index:
                counts[stage_index[sc.stage]] += sc.count
        rollout_rows.append(RolloutRow(group.key, street_names.get(group.key, group.key.rsplit("/", 1)[-1]), counts))
    if rollout_rows and not all(r.key in street_names for r in rollout_rows):
        names = await asyncio.gather(*(_quietly(b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=r.key), **call),
                                                None, problems, "org") for r in rollout_rows))
        for row, reply in zip(rollout_rows, names, strict=True):
            if reply is not None:
                row.name = reply.org_unit.display_name
    totals = [0] * len(STAGES)
    for sc in summary.totals:
        if sc.stage in stage_index:
            totals[stage_index[sc.stage]] += sc.count
    active = [a for a in activity if a is not None and a.volunteers]
    return Dashboard(unit=unit, ancestors=ancestors, children=children, headline=summary.headline,
                     compound_count=summary.compound_count, rollout=rollout_rows, totals=totals,
                     communities=sorted(active, key=lambda a: -a.points),
                     quiet_communities=len(communities) - len(active), help_rows=help_rows, merchants=merchants,
                     days=days, unbalanced_days=unbalanced, year=now.year, problems=problems, timings=timings)
