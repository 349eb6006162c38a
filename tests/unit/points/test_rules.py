"""Pure rules of volunteer-points: account names, request fingerprints, calendar periods in
Asia/Shanghai, how ranks share ties and year-end tiers follow them, activity caps, and the
domain's enums against the protos' numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Any

import pytest
from linli_points.activities import CheckInMethod, SignUpState, capped
from linli_points.adjustments import AdjustmentState
from linli_points.awards import Rule, assign_tiers, awards_csv, export_filename, rule_of
from linli_points.care import previous_month
from linli_points.funding import FundingKind
from linli_points.help_credits import HelpCreditState
from linli_points.ledger.accounts import check_account, volunteer_of
from linli_points.ledger.model import HoldState, Kind, TransferRequest
from linli_points.pairings import Compliance, Confirmation, VisitState, VisitType, visit_month
from linli_points.rankings import Ranked, period_bounds, rank
from linli_points.tables import Award, Pairing

from linli.events.v1 import points_pb2 as events
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import funding_pb2 as fu
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as par
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ident
from linli_runtime.times import day_bounds, local_day, month_bounds, parse_date

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


@pytest.mark.parametrize("name", ["volunteers/v-001", "system/issuance", "system/redemption-clearing",
                                  "system/expiry", "volunteers/a.b:c_d-e", "funding/charity-micro-fund"])
def test_account_names_accepted(name: str) -> None:
    assert check_account("account", name) == name


@pytest.mark.parametrize("name", ["", "volunteers/", "volunteers/a/b", "system/bank", "merchants/x", "funding/",
                                  "funding/a b",
                                  "volunteers/" + "x" * 65, "volunteers/万"])
def test_account_names_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_account("debit_account", name)
    assert [v.field for v in caught.value.violations] == ["debit_account"]


def test_ids_exclude_the_slash_reserved_for_hold_resolutions() -> None:
    ident("transfer_id", "pos-7:2026.11.07_a")
    for bad in ("", "h1/post", "a b", "x" * 65):
        with pytest.raises(InvalidArgument):
            ident("transfer_id", bad)
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
    assert visit_month(datetime(2026, 11, 30, 17, tzinfo=UTC)) == "2026-12"
    start, end = month_bounds("2026-12")
    assert (start, end) == (datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert period_bounds("period", "2026") == (datetime(2025, 12, 31, 16, tzinfo=UTC),
                                               datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert period_bounds("period", "2026-12") == (start, end)
    assert day_bounds(local_day(datetime(2026, 11, 7, 1, tzinfo=UTC)))[0] == datetime(2026, 11, 6, 16, tzinfo=UTC)
    for bad in ("26", "2026-13", "2026-1", "x", "0001", "0001-01", "9999", "2026- 1", "2026-+1", "２０２６"):
        with pytest.raises(InvalidArgument) as caught:
            period_bounds("period", bad)
        assert [v.field for v in caught.value.violations] == ["period"]
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


def test_ranks_are_shared_by_ties_and_leave_out_who_earned_nothing() -> None:
    board = rank({"v-c": 20, "v-a": 35, "v-b": 20, "v-d": 5, "v-e": 0, "v-f": -3}, {"v-a": "万阿姨"})
    assert [(r.rank, r.volunteer_id, r.points_earned) for r in board] == [
        (1, "v-a", 35), (2, "v-b", 20), (2, "v-c", 20), (4, "v-d", 5)]
    assert [r.display_name for r in board] == ["万阿姨", "", "", ""]  # a name unknown stays blank
    assert rank({}, {}) == []


def test_a_close_takes_shares_when_given_else_counts_else_the_default() -> None:
    assert rule_of((0, 0, 0), (0, 0, 0)) == Rule("count", (1, 2, 3))
    assert rule_of((2, 0, 5), (0, 0, 0)) == Rule("count", (2, 0, 5))
    assert rule_of((0, 0, 0), (10, 0, 20)) == Rule("percent", (10, 0, 20))


def test_awards_export_as_a_csv_excel_reads_as_utf8() -> None:
    row = Award(community_path=FENGSHU, year=2026, volunteer_id="v-wan", display_name="万阿姨",
                tier=events.AWARD_TIER_GOLD, rank=1, points_earned=35)
    content = awards_csv([row])
    assert content.startswith("\ufeff".encode())
    assert content.decode("utf-8-sig").splitlines() == ["rank,tier,volunteer_id,display_name,points_earned",
                                                        "1,gold,v-wan,万阿姨,35"]
    assert export_filename(FENGSHU, 2026) == "fengshu-awards-2026.csv"


@pytest.mark.parametrize("points, cap, earned, credited", [
    (10, 0, 500, 10),   # no cap
    (10, 15, 0, 10),
    (10, 15, 10, 5),    # the day's second activity fills the cap
    (10, 15, 15, 0),
    (10, 15, 40, 0),    # over the cap already (the cap was lowered): nothing, never negative
])
def test_caps_credit_what_fits(points: int, cap: int, earned: int, credited: int) -> None:
    assert capped(points, cap, earned) == credited


def test_a_pairing_is_short_while_its_visits_are_fewer_than_required() -> None:
    pairing = Pairing(community_path=FENGSHU, pairing_id="p-1", family_id="f-1", elder_id="e-1",
                      start_date=date(2026, 1, 1), visits_required=2)
    assert [Compliance(pairing, n).short for n in (0, 1, 2, 3)] == [True, True, False, False]


@pytest.mark.parametrize("ours, theirs", [
    (SignUpState, act.SignUpState), (AdjustmentState, adj.AdjustmentState), (Confirmation, par.VisitConfirmation),
    (HoldState, led.HoldState), (Kind, led.TransferKind), (HelpCreditState, act.HelpCreditState),
    (FundingKind, fu.FundingKind), (VisitType, events.VisitType), (CheckInMethod, act.CheckInMethod),
    (VisitState, par.VisitState),
])
def test_stored_states_use_the_protos_numbers(ours: type[IntEnum], theirs: Any) -> None:
    prefix = theirs.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")  # e.g. SIGN_UP_STATE_
    assert {m.name: int(m) for m in ours} == {
        name.removeprefix(prefix): number for name, number in theirs.items() if number != 0}


def test_the_month_before() -> None:
    assert [previous_month(m) for m in ("2026-11", "2026-01", "2000-10")] == ["2026-10", "2025-12", "2000-09"]
