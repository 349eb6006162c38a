from __future__ import annotations

import pytest
from linli_notification.api_common import page_size
from linli_notification.names import community_name, parse_child, parse_community, parse_follow_up
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


def test_page_sizes_follow_aip_158() -> None:
    assert page_size(0) == 20 and page_size(1000) == 100
    with pytest.raises(InvalidArgument):
        page_size(-1)
