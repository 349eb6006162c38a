"""The portal's side of check-in (checkin.py): the URL, the QR image, when the page reloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from linli_portal.checkin import check_in_url, community_of, community_slug, qr_svg, refresh_seconds

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def test_the_url_carries_community_activity_and_token() -> None:
    url = check_in_url("http://portal:8080/", FENGSHU, "a-1", "123.abc_-")
    assert url == "http://portal:8080/me/checkin/chengdu~jinjiang~chenglonglu~fengshu/a-1?t=123.abc_-"
    assert community_of(community_slug(FENGSHU)) == FENGSHU


def test_the_qr_code_is_an_image_with_a_title_that_scales() -> None:
    svg = qr_svg("http://portal/me/checkin/x/y?t=1.a")
    assert svg.startswith('<svg role="img" ') and "<title>" in svg and "viewBox" in svg and "width=" not in svg


def test_the_page_reloads_when_the_token_rotates_within_bounds() -> None:
    now = datetime(2026, 12, 7, 12, 0, 10, tzinfo=UTC)

    def at(seconds: float) -> Timestamp:
        stamp = Timestamp()
        stamp.FromDatetime(now + timedelta(seconds=seconds))
        return stamp

    assert refresh_seconds(at(20), now) == 21
    assert refresh_seconds(at(0), now) == 2
    assert refresh_seconds(at(300), now) == 30
