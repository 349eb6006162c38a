from __future__ import annotations

import pytest
from linli_notification.names import (
    community_name,
    follow_up_name,
    parse_child,
    parse_community,
    parse_follow_up,
    parse_notice,
    parse_recipient,
    parse_settings,
    settings_name,
    valid_id,
)
from linli_notification.templates import render

from linli_runtime.errors import InvalidArgument

AWARD = dict(name="李红", year=2026, tier="金牌", tier_en="Gold", rank=1, points=1280)


def test_chinese_first_english_for_english_readers_and_fallback() -> None:
    zh = render("award.granted", "zh", AWARD)
    assert (zh.language, zh.title) == ("zh", "恭喜李红获得2026年度金牌·红枫卫士")
    en = render("award.granted", "en", AWARD)
    assert en.title == "Congratulations, 李红: Gold Red Maple Guardian 2026"
    assert render("award.granted", "fr", AWARD).language == "zh", "unknown language: Chinese"
    with pytest.raises(LookupError):
        render("no.such.kind", "zh", {})


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_household_claim_decision_reads_as_its_outcome(language: str) -> None:
    claim = dict(unit="chengdu/x/3/201", register_name="李四", reason="名册不符")
    approved = render("household_claim.decided", language, {**claim, "approved": True})
    rejected = render("household_claim.decided", language, {**claim, "approved": False})
    assert approved.title != rejected.title and approved.body and rejected.body
    assert "名册不符" in rejected.body and "名册不符" not in approved.body
    assert "\n" not in approved.title and "\n" not in rejected.title


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_visit_asks_the_elder_and_its_decision_reads_as_its_outcome(language: str) -> None:
    logged = render("visit.logged", language, dict(volunteer="万晓", elder="刘奶奶", day="2026-11-03",
                                                   purpose="亲情陪护", purpose_en="company", visit_id="v-1"))
    assert "万晓" in logged.title and "2026-11-03" in logged.body and "/me/visits/review" in logged.body
    visit = dict(elder="刘奶奶", day="2026-11-03", points=5, done=2, required=2, month="2026-11", reason="那天我不在家")
    confirmed = render("visit.decided", language, {**visit, "confirmed": True})
    rejected = render("visit.decided", language, {**visit, "confirmed": False})
    unpaid = render("visit.decided", language, {**visit, "confirmed": True, "points": 0})
    assert confirmed.title != rejected.title and "\n" not in confirmed.title + rejected.title
    assert "5" in confirmed.body and "那天我不在家" in rejected.body and "那天我不在家" not in confirmed.body
    points_word = {"zh": "积分", "en": "points"}[language]
    assert points_word in confirmed.body and points_word not in unpaid.body, "no points credited: none claimed"


def test_a_missing_template_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(Exception, match="undefined"):
        render("award.granted", "zh", {"name": "x"})


def test_resource_names_round_trip_and_refuse_garbage() -> None:
    path = "chengdu/jinjiang/chenglonglu/fengshu"
    assert community_name(path) == "communities/chengdu~jinjiang~chenglonglu~fengshu"
    assert parse_community("parent", community_name(path)) == path
    assert parse_child("name", f"{community_name(path)}/helpRequests/h-1", "helpRequests") == (path, "h-1")
    assert parse_follow_up("name", f"{community_name(path)}/helpRequests/h-1/followUps/3") == (path, "h-1", 3)
    for bad in ("", "communities", "communities/", "communities/a~b/extra", "compounds/a", "communities/锦江"):
        with pytest.raises(InvalidArgument):
            parse_community("parent", bad)
    with pytest.raises(InvalidArgument):
        parse_child("name", f"{community_name(path)}/helpRequests/../x", "helpRequests")

    assert follow_up_name(path, "h-1", 3) == f"{community_name(path)}/helpRequests/h-1/followUps/3"
    assert parse_settings("name", settings_name(path)) == path
    assert parse_recipient("parent", "recipients/worker-he") == "worker-he"
    assert parse_recipient("name", "recipients/worker-he/preferences", "preferences") == "worker-he"
    assert parse_notice("name", "recipients/worker-he/notices/n-1") == ("worker-he", "n-1")
    for field, bad in (("name", "recipients/worker-he/notices"), ("name", "recipients/a:b/notices/n-1"),
                       ("name", f"{community_name(path)}/helpRequests/h-1/followUps/x")):
        with pytest.raises(InvalidArgument) as caught:
            (parse_follow_up if "helpRequests" in bad else parse_notice)(field, bad)
        assert caught.value.violations[0].field == field
    with pytest.raises(InvalidArgument):
        parse_settings("name", community_name(path))


def test_ids_keep_the_services_stricter_rule() -> None:
    """Stricter than linli_runtime.fields.ident: no ':' and no leading punctuation, up to 128."""
    assert valid_id("worker_id", "worker-he") == "worker-he"
    assert valid_id("worker_id", "w" * 128)
    for bad in ("", "a b", "a:b", "-worker", ".x", "w" * 129, "小王"):
        with pytest.raises(InvalidArgument):
            valid_id("worker_id", bad)
    with pytest.raises(InvalidArgument):
        parse_child("name", "communities/chengdu~jinjiang/helpRequests/h:1", "helpRequests")
