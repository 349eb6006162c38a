"""SummarizeCommunities (issue 18, the operators' city dashboard), SQLite and PostgreSQL: many
communities summed up in one call give each the figures the dashboard used to gather with a
dozen calls per community — ListVolunteers counted, ListRankings' earners, points and first
three, ListAwards of the year (else the year before) by tier — and the call checks its input."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from linli_points.app import PointsApp

from linli.points.v1 import awards_pb2 as aw
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, expect_error

STREET = "chengdu/jinjiang/chenglonglu"
QINGTA, BAIHE, SHUANGLIN = f"{STREET}/qingta", f"{STREET}/baihe", f"{STREET}/shuanglin"


async def credit(s: Stubs, md: Metadata, path: str, volunteer_id: str, points: int, n: int) -> None:
    await s.ledger.CreateTransfer(led.CreateTransferRequest(
        community_path=path, transfer_id=f"t{n}", debit_account="system/issuance",
        credit_account=f"volunteers/{volunteer_id}", amount=points, reason="governance"), metadata=md)


async def the_old_way(s: Stubs, md: Metadata, path: str, year: int) -> tuple[object, ...]:
    """What the dashboard read for a community before SummarizeCommunities."""
    volunteers = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=path, page_size=1000),
                                                   metadata=md)
    board = await s.awards.ListRankings(aw.ListRankingsRequest(community_path=path, period=str(year),
                                                               page_size=1000), metadata=md)
    earned = [r for r in board.rankings if r.points_earned > 0]
    award_year, tiers = 0, Counter[int]()
    for y in (year, year - 1):
        listed = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=path, year=y), metadata=md)
        if listed.awards:
            award_year, tiers = y, Counter(int(a.tier) for a in listed.awards)
            break
    return (path, len(volunteers.volunteers), len(earned), sum(r.points_earned for r in earned),
            [(r.rank, r.volunteer_id, r.display_name, r.points_earned) for r in earned[:3]], award_year, dict(tiers))


def summed_up(c: aw.CommunitySummary) -> tuple[object, ...]:
    return (c.community_path, c.volunteer_count, c.earner_count, c.points_earned,
            [(r.rank, r.volunteer_id, r.display_name, r.points_earned) for r in c.top], c.award_year,
            {int(t.tier): t.count for t in c.award_tiers})


async def test_many_communities_summed_up_in_one_call_as_the_dashboard_read_them_one_by_one(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, as_service: Metadata, clock: ManualClock,
    token_for: Callable[..., Metadata],
) -> None:
    s = stubs
    street = token_for("community_worker", scope=STREET)
    for vid, name in (("v-wan", "万阿姨"), ("v-li", "李叔"), ("v-zhao", "赵姐"), ("v-qian", "钱奶奶"), ("v-sun", "孙")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=name)), metadata=as_worker)
    n = 0
    for path, credits in ((FENGSHU, (("v-wan", 30), ("v-li", 20), ("v-zhao", 20), ("v-qian", 5), ("v-li", 4))),
                          (QINGTA, (("q-1", 40), ("q-2", 40), ("q-3", 10)))):
        for vid, points in credits:
            await credit(s, as_service, path, vid, points, n := n + 1)
    # A return of points counts against earning; a volunteer who gave back more earned nothing.
    await s.ledger.CreateTransfer(led.CreateTransferRequest(
        community_path=FENGSHU, transfer_id="back", debit_account="volunteers/v-qian",
        credit_account="system/issuance", amount=5, reason="correction"), metadata=as_service)
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    await s.awards.CloseYears(aw.CloseYearsRequest(community_paths=[FENGSHU, QINGTA], year=2026), metadata=street)
    # 2027 so far: Qingta's awards are the year before's; Shuanglin earned this year only.
    for vid, points in (("s-1", 7), ("s-2", 9)):
        await credit(s, as_service, SHUANGLIN, vid, points, n := n + 1)
    await credit(s, as_service, QINGTA, "q-3", 12, n := n + 1)
    # Baihe's third place is shared by four: the board lists them by volunteer id, the first
    # two of them make the first three (PostgreSQL reads the first places WITH TIES).
    for vid, points in (("b-4", 9), ("b-2", 5), ("b-3", 5), ("b-1", 5), ("b-5", 5)):
        await credit(s, as_service, BAIHE, vid, points, n := n + 1)

    everyone = [QINGTA, FENGSHU, BAIHE, SHUANGLIN]
    for year in (2026, 2027):
        reply = await s.awards.SummarizeCommunities(aw.SummarizeCommunitiesRequest(
            community_paths=everyone, year=year), metadata=street)
        assert [summed_up(c) for c in reply.communities] == [
            await the_old_way(s, street, path, year) for path in everyone], year
    fengshu = (await s.awards.SummarizeCommunities(aw.SummarizeCommunitiesRequest(
        community_paths=[FENGSHU], year=2026), metadata=street)).communities[0]
    assert summed_up(fengshu) == (FENGSHU, 5, 3, 74, [(1, "v-wan", "万阿姨", 30), (2, "v-li", "李叔", 24),
                                                     (3, "v-zhao", "赵姐", 20)], 2026, {1: 1, 2: 2})
    baihe = (await s.awards.SummarizeCommunities(aw.SummarizeCommunitiesRequest(
        community_paths=[BAIHE], year=2027), metadata=street)).communities[0]
    assert summed_up(baihe) == (BAIHE, 0, 5, 29, [(1, "b-4", "", 9), (2, "b-1", "", 5), (2, "b-2", "", 5)], 0, {})


async def test_the_call_checks_its_communities(stubs: Stubs, token_for: Callable[..., Metadata]) -> None:
    street = token_for("community_worker", scope=STREET)

    def summarize(paths: list[str]) -> object:
        return stubs.awards.SummarizeCommunities(aw.SummarizeCommunitiesRequest(community_paths=paths, year=2026),
                                                 metadata=street)

    await expect_error(summarize([]), grpc.StatusCode.INVALID_ARGUMENT)
    await expect_error(summarize([f"{STREET}/c{i}" for i in range(1001)]), grpc.StatusCode.INVALID_ARGUMENT)
    await expect_error(summarize([FENGSHU, FENGSHU]), grpc.StatusCode.INVALID_ARGUMENT)
    await expect_error(summarize([FENGSHU, SHENGJIAN]), grpc.StatusCode.PERMISSION_DENIED)
