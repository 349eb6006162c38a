"""Pure rules of volunteer-points: account names, request fingerprints, page tokens, calendar
periods in China time, and how year-end tiers follow ranks and ties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from linli_points.api.awards import Ranked, Rule, assign_tiers
from linli_points.api.common import parse_date
from linli_points.ledger.accounts import check_account, check_id, volunteer_of
from linli_points.ledger.model import Kind, TransferRequest
from linli_points.periods import day_bounds, month_bounds, month_of, period_bounds

from linli.events.v1 import points_pb2 as events
from linli_runtime.errors import InvalidArgument

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


@pytest.mark.parametrize("name", ["volunteers/v-001", "system/issuance", "system/redemption-clearing",
                                  "system/expiry", "volunteers/a.b:c_d-e"])
def test_account_names_accepted(name: str) -> None:
    assert check_account("account", name) == name


@pytest.mark.parametrize("name", ["", "volunteers/", "volunteers/a/b", "system/bank", "merchants/x",
                                  "volunteers/" + "x" * 65, "volunteers/万"])
def test_account_names_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_account("debit_account", name)
    assert [v.field for v in caught.value.violations] == ["debit_account"]


def test_ids_exclude_the_slash_reserved_for_hold_resolutions() -> None:
    check_id("transfer_id", "pos-7:2026.11.07_a")
    for bad in ("", "h1/post", "a b", "x" * 65):
        with pytest.raises(InvalidArgument):
            check_id("transfer_id", bad)
    assert volunteer_of("volunteers/v-1") == "v-1" and volunteer_of("system/issuance") is None


def test_fingerprint_covers_every_field_the_caller_chose() -> None:
    base = TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 5, reason="r", source="s")
    variants = [
        TransferRequest(FENGSHU + "2", "t1", "system/issuance", "volunteers/v", 5, reason="r", source="s"),
        TransferRequest(FENGSHU, "t1", "system/expiry", "volunteers/v", 5, reason="r", source="s"),
        TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/w", 5, reason="r", source="s"),
        TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 6, reason="r", source="s"),
        TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 5, Kind.PENDING, "r", "s",
                        timeout_seconds=60),
        TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 5, reason="r2", source="s"),
        TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 5, reason="r", source="s2"),
    ]
    assert base.fingerprint() == TransferRequest(FENGSHU, "t1", "system/issuance", "volunteers/v", 5,
                                                 reason="r", source="s").fingerprint()
    assert len({v.fingerprint() for v in variants} | {base.fingerprint()}) == len(variants) + 1


def test_periods_follow_china_time() -> None:
    # 2026-11-30 17:00 UTC is already 1 December in Chengdu
    assert month_of(datetime(2026, 11, 30, 17, tzinfo=UTC)) == "2026-12"
    start, end = month_bounds("2026-12")
    assert (start, end) == (datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert period_bounds("2026") == (datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert day_bounds(datetime(2026, 11, 7, 1, tzinfo=UTC))[0] == datetime(2026, 11, 6, 16, tzinfo=UTC)
    for bad in ("26", "2026-13", "2026-1", "x", "0001", "0001-01", "9999"):
        with pytest.raises(ValueError):
            period_bounds(bad)
    with pytest.raises(InvalidArgument):
        parse_date("join_date", "2026-2-1")


def ranked(*points: int) -> list[Ranked]:
    out: list[Ranked] = []
    for i, p in enumerate(points, start=1):
        rank = out[-1].rank if out and out[-1].points_earned == p else i
        out.append(Ranked(rank, f"v{i}", "", p))
    return out


@pytest.mark.parametrize(
    "points, rule, tiers",
    [
        ((50, 40, 30, 20, 10, 5, 1), (1, 2, 3), "GSSBBB"),
        ((50, 50, 30, 20), (1, 1, 1), "GGB"),         # tie for gold: both gold, rank 3 is bronze
        ((50, 40, 40, 40, 10), (1, 2, 1), "GSSS"),    # tie across the silver/bronze line: all silver
        ((50, 40), (1, 2, 3), "GS"),                  # fewer volunteers than awards
        ((10,), (0, 0, 1), "B"),
    ],
)
def test_tiers_follow_ranks_and_ties_go_to_the_better_tier(
    points: tuple[int, ...], rule: tuple[int, int, int], tiers: str
) -> None:
    letter = {events.AWARD_TIER_GOLD: "G", events.AWARD_TIER_SILVER: "S", events.AWARD_TIER_BRONZE: "B"}
    assert "".join(letter[t] for _, t in assign_tiers(ranked(*points), rule)) == tiers


def test_shares_become_rank_counts_rounded_up() -> None:
    assert Rule("percent", (10, 20, 30)).counts(72) == (8, 15, 22)
    assert Rule("percent", (1, 0, 0)).counts(3) == (1, 0, 0)
    assert Rule("percent", (10, 10, 10)).counts(0) == (0, 0, 0)
    assert Rule("count", (1, 2, 3)).counts(1000) == (1, 2, 3)
