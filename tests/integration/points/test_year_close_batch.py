"""CloseYears (issue 18, the city's year-end close set by set), SQLite and PostgreSQL: many
communities closed in one call give each the close CloseYear would have given it alone — the
same awards, names and events — a community closed before with another rule is refused alone,
a repeat is a replay, and what concerns the whole call (scope, a year not over, a community
named twice) refuses it whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from linli_points.app import PointsApp

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import awards_pb2 as aw
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, expect_error, published

STREET = "chengdu/jinjiang/chenglonglu"
QINGTA, BAIHE, SHUANGLIN = f"{STREET}/qingta", f"{STREET}/baihe", f"{STREET}/shuanglin"
GOLD, SILVER, BRONZE = events_pb.AWARD_TIER_GOLD, events_pb.AWARD_TIER_SILVER, events_pb.AWARD_TIER_BRONZE


async def credit(s: Stubs, md: Metadata, path: str, volunteer_id: str, points: int, n: int) -> None:
    await s.ledger.CreateTransfer(led.CreateTransferRequest(
        community_path=path, transfer_id=f"t{n}", debit_account="system/issuance",
        credit_account=f"volunteers/{volunteer_id}", amount=points, reason="governance"), metadata=md)


async def test_closing_many_communities_at_once_closes_each_as_alone(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, as_service: Metadata, clock: ManualClock,
    token_for: Callable[..., Metadata],
) -> None:
    s = stubs
    street = token_for("community_worker", scope=STREET)
    for vid, name in (("v-wan", "万阿姨"), ("v-li", "李叔"), ("v-zhao", "赵姐"), ("v-qian", "钱奶奶")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=name)), metadata=as_worker)
    # Fengshu: four ranks, the fourth bronze; a return of points counts against earning.
    for n, (vid, points) in enumerate((("v-wan", 30), ("v-li", 20), ("v-zhao", 15), ("v-qian", 5), ("v-li", 4))):
        await credit(s, as_service, FENGSHU, vid, points, n)
    await s.ledger.CreateTransfer(led.CreateTransferRequest(
        community_path=FENGSHU, transfer_id="back", debit_account="volunteers/v-li", credit_account="system/issuance",
        amount=10, reason="correction"), metadata=as_service)
    # Qingta: a tie at rank 1 takes both into gold; rank 3 is silver (1 gold + 2 silver ranks).
    for n, (vid, points) in enumerate((("q-1", 40), ("q-2", 40), ("q-3", 10))):
        await credit(s, as_service, QINGTA, vid, points, n)
    twins = [f"{STREET}/wangjiang", f"{STREET}/hejiang"]  # alike, for a rule by shares below
    for path in twins:
        for n, points in enumerate((50, 40, 40, 20, 10, 10, 5)):
            await credit(s, as_service, path, f"w-{n}", points, n)
    # Shuanglin was closed before with another rule; Baihe has nobody with points.
    everyone = [FENGSHU, QINGTA, BAIHE, SHUANGLIN]
    await expect_error(s.awards.CloseYears(aw.CloseYearsRequest(community_paths=everyone, year=2026),
                                           metadata=street), grpc.StatusCode.FAILED_PRECONDITION, "YEAR_NOT_OVER")
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    await s.awards.CloseYear(aw.CloseYearRequest(community_path=SHUANGLIN, year=2026, gold_count=2), metadata=street)

    first = await s.awards.CloseYears(aw.CloseYearsRequest(community_paths=everyone, year=2026), metadata=street)
    assert [(r.community_path, r.newly_closed, r.award_count, r.refusal.reason) for r in first.results] == [
        (FENGSHU, True, 4, ""), (QINGTA, True, 3, ""), (BAIHE, True, 0, ""),
        (SHUANGLIN, False, 0, "YEAR_CLOSED_WITH_OTHER_RULE")]
    assert first.results[3].refusal.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "another rule" in first.results[3].refusal.message
    assert first.results[0].year_close.closed_by == "someone"

    async def awards_of(path: str) -> list[tuple[str, str, int, int, int]]:
        listed = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=path, year=2026), metadata=street)
        return [(a.volunteer_id, a.display_name, a.tier, a.rank, a.points_earned) for a in listed.awards]

    assert await awards_of(FENGSHU) == [("v-wan", "万阿姨", GOLD, 1, 30), ("v-zhao", "赵姐", SILVER, 2, 15),
                                        ("v-li", "李叔", SILVER, 3, 14), ("v-qian", "钱奶奶", BRONZE, 4, 5)]
    assert await awards_of(QINGTA) == [("q-1", "", GOLD, 1, 40), ("q-2", "", GOLD, 1, 40), ("q-3", "", SILVER, 3, 10)]
    # What CloseYear answers for each now is a replay of the same close.
    for path in (FENGSHU, QINGTA, BAIHE):
        alone = await s.awards.CloseYear(aw.CloseYearRequest(community_path=path, year=2026), metadata=street)
        assert not alone.newly_closed
        assert [(a.volunteer_id, a.display_name, a.tier, a.rank, a.points_earned)
                for a in alone.awards] == await awards_of(path)

    again = await s.awards.CloseYears(aw.CloseYearsRequest(community_paths=everyone, year=2026), metadata=street)
    assert [(r.newly_closed, r.award_count, r.refusal.reason) for r in again.results] == [
        (False, 4, ""), (False, 3, ""), (False, 0, ""), (False, 0, "YEAR_CLOSED_WITH_OTHER_RULE")]
    granted = await published(app, "points.award.granted", events_pb.YearEndAwardGranted)
    assert sorted((e.community_path, e.volunteer_id, e.volunteer_name, e.tier, e.rank) for e in granted) == sorted([
        (FENGSHU, "v-wan", "万阿姨", GOLD, 1), (FENGSHU, "v-zhao", "赵姐", SILVER, 2),
        (FENGSHU, "v-li", "李叔", SILVER, 3), (FENGSHU, "v-qian", "钱奶奶", BRONZE, 4),
        (QINGTA, "q-1", "", GOLD, 1), (QINGTA, "q-2", "", GOLD, 1), (QINGTA, "q-3", "", SILVER, 3)])

    # A rule by shares, on two communities alike: CloseYears gives what CloseYear gives.
    shares = {"year": 2026, "gold_percent": 15, "silver_percent": 15, "bronze_percent": 30}
    alone = await s.awards.CloseYear(aw.CloseYearRequest(community_path=twins[0], **shares), metadata=street)
    both = await s.awards.CloseYears(aw.CloseYearsRequest(community_paths=twins, **shares), metadata=street)
    assert [(r.newly_closed, r.award_count) for r in both.results] == [(False, 7), (True, 7)]
    assert await awards_of(twins[1]) == await awards_of(twins[0]) == [
        (a.volunteer_id, a.display_name, a.tier, a.rank, a.points_earned) for a in alone.awards]
    # 7 ranked: gold ⌈1.05⌉ = 2 ranks, silver ⌈1.05⌉ = 2, bronze ⌈2.1⌉ = 3 — everyone, rank 7 included.
    assert [(a.volunteer_id, a.tier, a.rank) for a in alone.awards] == [
        ("w-0", GOLD, 1), ("w-1", GOLD, 2), ("w-2", GOLD, 2), ("w-3", SILVER, 4), ("w-4", BRONZE, 5),
        ("w-5", BRONZE, 5), ("w-6", BRONZE, 7)]

    # What concerns the whole call refuses it whole.
    for paths, code, field in (([], grpc.StatusCode.INVALID_ARGUMENT, "community_paths"),
                               ([FENGSHU, QINGTA, FENGSHU], grpc.StatusCode.INVALID_ARGUMENT, "community_paths"),
                               ([f"{STREET}/c{i}" for i in range(101)], grpc.StatusCode.INVALID_ARGUMENT,
                                "community_paths"),
                               ([FENGSHU, SHENGJIAN], grpc.StatusCode.PERMISSION_DENIED, "")):
        await expect_error(s.awards.CloseYears(aw.CloseYearsRequest(community_paths=paths, year=2026),
                                               metadata=street), code, field=field)
