"""The volunteers' pages' pieces without a platform: how points, stock, codes and reasons read,
when the member code page reloads, the QR code's markup, which communities a person volunteers
in, and the pages rendered from messages (Chinese first, English kept; nothing cached is decided
here — see the e2e tests for Cache-Control)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import segno
from linli_portal import volunteer
from linli_portal.app import templates
from linli_portal.residents import Me

from linli.events.v1 import points_pb2 as events
from linli.points.v1 import awards_pb2, ledger_pb2, pairings_pb2, volunteers_pb2
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.auth import Grant, Principal, PrincipalKind
from linli_runtime.times import to_timestamp

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
NOW = datetime(2026, 12, 7, 4, 0, 30, tzinfo=UTC)


def test_points_and_stock_read_plainly() -> None:
    assert [volunteer.signed_points(n) for n in (12, -5, 0, 1200, -96_000)] == ["+12", "−5", "0", "+1,200", "−96,000"]
    assert volunteer.stock_text(-1) == ("不限", "unlimited")
    assert volunteer.stock_text(0) == ("已兑完", "none left")
    assert volunteer.stock_text(7) == ("剩余 7", "7 left")


def test_why_points_moved_reads_chinese_first() -> None:
    assert volunteer.reason_names("elderly-visits") == ("独居老人上门服务", "home visits to elders")
    assert volunteer.reason_names("redemption", ledger_pb2.TRANSFER_KIND_POST) == ("积分兑换", "redeemed at a merchant")
    assert volunteer.reason_names("redemption", ledger_pb2.TRANSFER_KIND_REVERSAL) == ("退还", "refund")
    assert volunteer.reason_names("governance", ledger_pb2.TRANSFER_KIND_REVERSAL) == ("冲正", "reversal")
    assert volunteer.reason_names("new-programme") == ("new programme", "new programme")
    assert volunteer.reason_names("") == ("—", "—")


def test_a_member_code_is_spaced_as_the_till_reads_it() -> None:
    assert volunteer.spaced_code("12345678901234") == "1234 5678 901 234"
    assert volunteer.spaced_code("123") == "123"  # not a member code: shown as it came


@pytest.mark.parametrize(("left", "reload"), [
    (120, 61),  # a fresh code (two steps accepted): reload when its minute ends
    (90, 31),
    (61, 5),  # its minute is ending: soon, but not in a loop
    (10, 5),
    (600, 120),  # a longer code: still within two minutes
])
def test_the_member_code_page_reloads_as_the_code_s_minute_ends(left: int, reload: int) -> None:
    assert volunteer.refresh_seconds(NOW + timedelta(seconds=left), NOW) == reload


def test_the_qr_code_is_an_image_with_a_title_dark_on_white() -> None:
    svg = volunteer.qr_svg("12345678901234", "会员码二维码 Member code QR")
    assert svg.startswith('<svg role="img" ') and 'class="qr"' in svg
    assert "<title>会员码二维码 Member code QR</title>" in svg
    assert "#fff" in svg  # a light background: tills cannot read a code on a dark page
    # 14 digits fit a version-1 symbol (21 modules) with its 4-module quiet zone, 6 px a module.
    assert segno.make("12345678901234", micro=False).version == 1 and 'width="174"' in svg


def principal(*grants: tuple[str, str], subject: str = "acc_abc") -> Principal:
    return Principal(subject, PrincipalKind.PERSON, tuple(Grant(r, s) for r, s in grants))


def test_a_person_volunteers_where_they_hold_the_volunteer_role() -> None:
    me = Me("token", principal(("volunteer", FENGSHU), ("volunteer", "chengdu/chongzhou/longxing/longxing-community"),
                               ("resident", f"{FENGSHU}/jinshang-chuntian/b3/h201"), ("volunteer", "chengdu")))
    assert volunteer.volunteer_communities(me) == ["chengdu/chongzhou/longxing/longxing-community", FENGSHU]
    # A volunteer grant for a compound means its community.
    assert volunteer.volunteer_communities(Me("t", principal(("volunteer", f"{FENGSHU}/jinshang-chuntian")))) == [
        FENGSHU]
    assert volunteer.volunteer_communities(Me("t", principal(("resident", FENGSHU)))) == []


def test_rewards_outside_their_window_are_not_offered() -> None:
    open_ended = rpb.Reward(points=5)
    later = rpb.Reward(points=5, valid_from=to_timestamp(NOW + timedelta(days=1)))
    over = rpb.Reward(points=5, valid_until=to_timestamp(NOW))
    now_on = rpb.Reward(points=5, valid_from=to_timestamp(NOW), valid_until=to_timestamp(NOW + timedelta(hours=1)))
    assert [volunteer.available_now(r, NOW) for r in (open_ended, later, over, now_on)] == [True, False, False, True]


class FakeRequest:
    """What Jinja2Templates needs of a request to render a page."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {"type": "http"}

    def url_for(self, name: str, **params: Any) -> str:
        return f"/{name}"


def render(name: str, **context: Any) -> str:
    template = templates.get_template(name)
    return template.render(request=FakeRequest(), v=volunteer, notice="", tab="volunteer", **context)


def mine(community_name: str = "枫树社区") -> volunteer.MyVolunteer:
    return volunteer.MyVolunteer(volunteers_pb2.Volunteer(community_path=FENGSHU, volunteer_id="v-001",
                                                          display_name="王秀英"), community_name)


def me() -> Me:
    return Me("token", principal(("volunteer", FENGSHU)))


def test_the_points_page_shows_the_balance_and_the_history_newest_first() -> None:
    m = mine()
    entries = [ledger_pb2.HistoryEntry(transfer=ledger_pb2.Transfer(
        transfer_id="t-2", reason="redemption", kind=ledger_pb2.TRANSFER_KIND_POST, create_time=to_timestamp(NOW)),
        change=-10, balance_after=53),
        ledger_pb2.HistoryEntry(transfer=ledger_pb2.Transfer(
            transfer_id="t-1", reason="elderly-visits", kind=ledger_pb2.TRANSFER_KIND_DIRECT,
            create_time=to_timestamp(NOW - timedelta(days=1))), change=63, balance_after=63)]
    page = render("me_points.html", me=me(), mine=[m], vtab="points", rows=[volunteer.Points(
        m, ledger_pb2.GetBalanceResponse(balance=53, available=53, earned=63), entries)])
    assert '<dd class="balance">53</dd>' in page
    assert re.search(r'data-transfer="t-2">.*?2026-12-07 12:00.*?积分兑换.*?−10', page, re.S)
    assert page.index('data-transfer="t-2"') < page.index('data-transfer="t-1"')
    assert 'aria-current="true">志愿' in page and "not-a-volunteer" not in page


def test_a_person_who_is_no_volunteer_is_told_how_to_become_one() -> None:
    page = render("me_points.html", me=Me("t", principal()), mine=[], vtab="points", rows=[])
    assert 'id="not-a-volunteer"' in page and "社区工作人员" in page


def test_the_member_code_page_reloads_itself_and_shows_the_digits() -> None:
    code = volunteer.MemberCode(mine(), "12345678901234", NOW + timedelta(seconds=100))
    page = render("me_member_code.html", me=me(), mine=[code.mine], vtab="code", codes=[code], refresh=41)
    assert '<meta http-equiv="refresh" content="41">' in page
    assert page.index('http-equiv="refresh"') < page.index("</head>")
    assert "1234 5678 901 234" in page and '<svg role="img"' in page


def test_the_rewards_page_shows_prices_stock_and_my_redemptions_with_refunds() -> None:
    m = mine()
    shop = volunteer.Shop(rpb.Partner(partner_id="health", display_name="社区卫生服务中心"), [
        rpb.Reward(name="merchants/health/rewards/bp", display_name="测血压", points=10, stock=-1)])
    done = rpb.Redemption(name="merchants/health/redemptions/r-1", merchant_id="health", reward_name="测血压",
                          quantity=1, points=10, refunded_points=10, state=rpb.REDEMPTION_STATE_COMMITTED,
                          create_time=to_timestamp(NOW))
    page = render("me_rewards.html", me=me(), mine=[m], vtab="rewards", rows=[volunteer.Rewards(
        m, [shop], [done], {"health": "社区卫生服务中心"})])
    assert re.search(r'data-reward="merchants/health/rewards/bp">.*?测血压.*?不限.*?10 分', page, re.S)
    assert re.search(r'data-redemption="merchants/health/redemptions/r-1">.*?2026-12-07 12:00.*?社区卫生服务中心'
                     r'.*?测血压.*?退还 10.*?已兑换', page, re.S)


def test_the_team_page_names_the_elder_only_and_links_the_certificate() -> None:
    m = mine()
    profile = volunteers_pb2.VolunteerProfile(
        volunteer=m.volunteer, family=volunteers_pb2.Family(family_id="f-001", display_name="王家"),
        family_member_names=["王小明"],
        teams=[volunteers_pb2.TeamMembership(team=volunteers_pb2.Team(display_name="小枫叶志愿服务队"),
                                             membership=volunteers_pb2.Membership(join_date="2026-01-01"))],
        pairings=[volunteers_pb2.PairedElder(pairing=pairings_pb2.Pairing(pairing_id="p-001", start_date="2026-01-01",
                                                                          visits_required=2),
                                             elder_display_name="张奶奶")])
    award = awards_pb2.Award(year=2025, volunteer_id="v-001", tier=events.AWARD_TIER_BRONZE, rank=5,
                             points_earned=147)
    circle = volunteer.Circle(m, profile, [award])
    page = render("me_team.html", me=me(), mine=[m], vtab="team", rows=[circle])
    assert "王家 · 王小明" in page and "小枫叶志愿服务队" in page and "张奶奶" in page
    assert "铜牌" in page and f'href="/me/awards/2025/certificate.pdf?community={FENGSHU}"' in page
    assert circle.as_json()["pairings"] == [{"pairing_id": "p-001", "elder_name": "张奶奶", "start_date": "2026-01-01",
                                             "visits_required": 2}]
    assert circle.as_json()["awards"][0]["tier"] == "bronze"
