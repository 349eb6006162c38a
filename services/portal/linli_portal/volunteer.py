"""The volunteers' pages of "我的" (volunteer_routes.py): my points, my member code, the partner
merchants' rewards with my redemptions, my family, team, pairing and awards.

Who "I" am as a volunteer: the volunteer record volunteer-points has bound to the signed-in
account, in each community where the person holds the `volunteer` role — found with
ListVolunteers filtered by the token's own `sub` (open to them), so a person who volunteers in
two communities sees both, each labelled with its community. Every call that reads a volunteer's
records is made with the person's own token: volunteer-points and partner-redemption recognise
"their own" by the binding and refuse anyone else's, so these pages cannot show another
volunteer's balance, code or redemptions even if the portal asked. The only calls made with
the portal's token are public reads: community names, and the year's announced awards (the
portal keeps the person's own).

Member codes are guessable secrets: pages that carry one are never cached (the portal answers
every /me page `Cache-Control: no-store`) and nothing here logs them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import segno

from linli.events.v1 import points_pb2 as events
from linli.governance.v1 import org_pb2
from linli.points.v1 import awards_pb2, ledger_pb2, volunteers_pb2
from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import resources_pb2 as rpb
from linli_portal.backends import Backends
from linli_portal.fmt import points
from linli_portal.residents import COMMUNITY_DEPTH, Me, prefix
from linli_runtime.auth import Role

# Why points moved, by the ledger's `reason` (a task category slug for work): Chinese, English.
REASONS: dict[str, tuple[str, str]] = {
    "redemption": ("积分兑换", "redeemed at a merchant"),
    "adjustment": ("积分调整", "adjustment"),
    "expiry": ("积分过期", "points expired"),
    "award": ("年度奖励", "year-end award"),
    "visit": ("探访老人", "a visit to an elder"),
    "help-request": ("帮助居民", "helping a resident"),
    "governance": ("参与社区治理", "community governance"),
    "helping-people-in-difficulty": ("帮扶困难人群", "helping people in difficulty"),
    "mediating-disputes": ("矛盾纠纷调处", "mediating disputes"),
    "collecting-opinions": ("收集意见建议", "collecting opinions"),
    "elderly-visits": ("独居老人上门服务", "home visits to elders"),
    "environment": ("环境卫生维护", "keeping common areas clean"),
    "children": ("一小关爱服务", "care for children"),
    "events": ("社区活动", "community events"),
}
REDEMPTION_STATES = {
    rpb.REDEMPTION_STATE_PENDING: ("处理中", "in progress"),
    rpb.REDEMPTION_STATE_COMMITTED: ("已兑换", "redeemed"),
    rpb.REDEMPTION_STATE_VOIDED: ("未成功", "did not go through"),
}
TIERS = {
    events.AWARD_TIER_GOLD: ("金牌", "gold"),
    events.AWARD_TIER_SILVER: ("银牌", "silver"),
    events.AWARD_TIER_BRONZE: ("铜牌", "bronze"),
}
MOVED = {ledger_pb2.TRANSFER_KIND_DIRECT, ledger_pb2.TRANSFER_KIND_POST, ledger_pb2.TRANSFER_KIND_REVERSAL}
# How many past years of awards the page looks through (the year closes after it ends).
AWARD_YEARS = 3
# A member code is shown until the next one is due: the page reloads when the code's step ends,
# a minute before the code stops being accepted, so the code on screen always has a minute left.
CODE_MARGIN_SECONDS = 60
MIN_REFRESH_SECONDS, MAX_REFRESH_SECONDS = 5, 120


def reason_names(reason: str, kind: int = ledger_pb2.TRANSFER_KIND_DIRECT) -> tuple[str, str]:
    """(Chinese, English) for why points moved. A reversal is a refund or a correction."""
    if kind == ledger_pb2.TRANSFER_KIND_REVERSAL:
        return ("退还" if reason == "redemption" else "冲正", "refund" if reason == "redemption" else "reversal")
    if reason in REASONS:
        return REASONS[reason]
    plain = reason.replace("-", " ").replace("_", " ") or "—"
    return plain, plain


def signed_points(change: int) -> str:
    """`+12`, `−5` (a real minus sign), `0`; grouped as fmt.points groups them (`+1,200`)."""
    return f"+{points(change)}" if change > 0 else f"−{points(-change)}" if change < 0 else "0"


def stock_text(stock: int) -> tuple[str, str]:
    """A reward's stock: -1 is unlimited, 0 is sold out."""
    if stock < 0:
        return "不限", "unlimited"
    if stock == 0:
        return "已兑完", "none left"
    return f"剩余 {stock}", f"{stock} left"


def spaced_code(code: str) -> str:
    """The 14 digits as the till reads them aloud: card number, then the one-time code, in fours."""
    card, otp = code[:8], code[8:]
    return f"{card[:4]} {card[4:]} {otp[:3]} {otp[3:]}" if len(code) == 14 else code


def refresh_seconds(expire: datetime, now: datetime) -> int:
    """When the member code page should reload: as its code's minute ends (see CODE_MARGIN_SECONDS),
    never sooner than 5 s nor later than 2 minutes."""
    left = (expire - now).total_seconds() - CODE_MARGIN_SECONDS
    return int(min(MAX_REFRESH_SECONDS, max(MIN_REFRESH_SECONDS, left + 1)))


def qr_svg(code: str, title: str) -> str:
    """The member code as an inline SVG QR code, dark on white with its quiet zone (tills need
    both), announced to screen readers as an image with a title."""
    svg: str = segno.make(code, micro=False, error="m").svg_inline(scale=6, border=4, dark="#000", light="#fff",
                                                                    title=title, svgclass="qr")
    return svg.replace("<svg ", '<svg role="img" ', 1)


def volunteer_communities(me: Me) -> list[str]:
    """The communities where the person holds the volunteer role."""
    return sorted({prefix(g.scope, COMMUNITY_DEPTH) for g in me.principal.grants
                   if g.role == Role.VOLUNTEER.value and g.scope.count("/") + 1 >= COMMUNITY_DEPTH})


@dataclass
class MyVolunteer:
    """One community's volunteer record bound to the person."""

    volunteer: volunteers_pb2.Volunteer
    community_name: str

    @property
    def community_path(self) -> str:
        return str(self.volunteer.community_path)

    @property
    def volunteer_id(self) -> str:
        return str(self.volunteer.volunteer_id)

    @property
    def key(self) -> str:
        """A short id for the page's anchors: the community's last path segment."""
        return self.community_path.rsplit("/", 1)[-1]

    def as_json(self) -> dict[str, Any]:
        return {"community_path": self.community_path, "community_name": self.community_name,
                "volunteer_id": self.volunteer_id, "display_name": self.volunteer.display_name}


async def community_name(b: Backends, path: str) -> str:
    try:
        unit: org_pb2.OrgUnit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path))).org_unit
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return path.rsplit("/", 1)[-1]
        raise
    return str(unit.display_name) or path.rsplit("/", 1)[-1]


async def my_volunteers(b: Backends, me: Me) -> list[MyVolunteer]:
    """The volunteer records bound to the person, one per community where they volunteer."""

    async def of(path: str) -> list[MyVolunteer]:
        reply = await b.volunteers.ListVolunteers(volunteers_pb2.ListVolunteersRequest(
            community_path=path, account_id=me.account_id, page_size=1), **me.md)
        if not reply.volunteers:
            return []
        return [MyVolunteer(reply.volunteers[0], await community_name(b, path))]

    found = await asyncio.gather(*(of(path) for path in volunteer_communities(me)))
    return [v for group in found for v in group]


# -- points ---------------------------------------------------------------------------------------


@dataclass
class Points:
    mine: MyVolunteer
    balance: ledger_pb2.GetBalanceResponse
    history: list[ledger_pb2.HistoryEntry]

    def as_json(self) -> dict[str, Any]:
        # "balance" counts held points as spent, as the page does (a redemption's hold is posted
        # just after the till's answer); "posted" is the ledger's balance of posted transfers.
        return {**self.mine.as_json(), "balance": self.balance.available, "posted": self.balance.balance,
                "available": self.balance.available,
                "held": self.balance.held, "earned": self.balance.earned,
                "history": [history_json(e) for e in self.history]}


def history_json(e: ledger_pb2.HistoryEntry) -> dict[str, Any]:
    t = e.transfer
    return {"transfer_id": t.transfer_id, "time": t.create_time.ToJsonString(),
            "kind": ledger_pb2.TransferKind.Name(t.kind), "reason": t.reason, "source": t.source,
            "change": e.change, "balance_after": e.balance_after}


async def points_of(b: Backends, me: Me, mine: MyVolunteer, history: int = 50) -> Points:
    """Balance and the latest `history` entries, straight from the ledger (newest first)."""
    account = f"volunteers/{mine.volunteer_id}"

    async def every_entry() -> list[ledger_pb2.HistoryEntry]:
        # The ledger lists an account oldest first; the page shows the newest.
        found: list[ledger_pb2.HistoryEntry] = []
        token = ""
        while True:
            page = await b.ledger.ListTransfers(ledger_pb2.ListTransfersRequest(
                community_path=mine.community_path, account=account, page_size=1000, page_token=token), **me.md)
            found.extend(page.entries)
            token = page.next_page_token
            if not token:
                return found

    balance, entries = await asyncio.gather(
        b.ledger.GetBalance(ledger_pb2.GetBalanceRequest(community_path=mine.community_path, account=account),
                            **me.md),
        every_entry())
    # Holds placed or voided change no balance (a redemption in progress shows as "held", one that
    # did not go through on the rewards page): the history is what moved points.
    shown = [e for e in entries if e.transfer.kind in MOVED]
    return Points(mine, balance, list(reversed(shown))[:history])


# -- member code ----------------------------------------------------------------------------------


@dataclass
class MemberCode:
    mine: MyVolunteer
    code: str
    expire_time: datetime

    @property
    def spaced(self) -> str:
        return spaced_code(self.code)

    def svg(self) -> str:
        return qr_svg(self.code, f"会员码二维码 Member code QR ({self.mine.community_name})")

    def as_json(self) -> dict[str, Any]:
        return {**self.mine.as_json(), "member_code": self.code,
                "expire_time": self.expire_time.isoformat().replace("+00:00", "Z")}


async def member_code_of(b: Backends, me: Me, mine: MyVolunteer) -> MemberCode:
    reply = await b.member_cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
        community_path=mine.community_path, volunteer_id=mine.volunteer_id), **me.md)
    return MemberCode(mine, reply.member_code, reply.expire_time.ToDatetime(tzinfo=UTC))


# -- rewards and redemptions ----------------------------------------------------------------------


@dataclass
class Shop:
    merchant: rpb.Partner
    rewards: list[rpb.Reward]


@dataclass
class Rewards:
    mine: MyVolunteer
    shops: list[Shop]
    redemptions: list[rpb.Redemption]
    merchant_names: dict[str, str] = field(default_factory=dict)

    def merchant_name(self, merchant_id: str) -> str:
        return self.merchant_names.get(merchant_id, merchant_id)

    def as_json(self) -> dict[str, Any]:
        return {**self.mine.as_json(),
                "rewards": [{"merchant": s.merchant.partner_id, "merchant_name": s.merchant.display_name,
                             "reward": r.name, "name": r.display_name, "points": r.points, "stock": r.stock}
                            for s in self.shops for r in s.rewards],
                "redemptions": [{"redemption": r.name, "merchant": r.merchant_id,
                                 "merchant_name": self.merchant_name(r.merchant_id), "reward": r.reward_name,
                                 "quantity": r.quantity, "points": r.points, "refunded_points": r.refunded_points,
                                 "state": rpb.RedemptionState.Name(r.state), "time": r.create_time.ToJsonString()}
                                for r in self.redemptions]}


def available_now(reward: rpb.Reward, now: datetime) -> bool:
    """Within the reward's validity window (an unset bound is open)."""
    if reward.HasField("valid_from") and reward.valid_from.ToDatetime(tzinfo=UTC) > now:
        return False
    return not (reward.HasField("valid_until") and reward.valid_until.ToDatetime(tzinfo=UTC) <= now)


async def rewards_of(b: Backends, me: Me, mine: MyVolunteer, now: datetime | None = None) -> Rewards:
    """The community's merchants that accept points, with their rewards valid now; and the
    volunteer's own redemptions (with what was refunded), newest first."""
    now = now or datetime.now(UTC)
    partners, redemptions = await asyncio.gather(
        b.partners.ListPartners(admin_pb2.ListPartnersRequest(
            community_path=mine.community_path, kind=rpb.PARTNER_KIND_MERCHANT, page_size=100), **me.md),
        b.redemptions.ListRedemptions(admin_pb2.ListRedemptionsRequest(
            community_path=mine.community_path, volunteer_id=mine.volunteer_id, page_size=100), **me.md))
    merchants = [p for p in partners.partners if p.state == rpb.PARTNER_STATE_ACTIVE and p.accepts_points]
    listed = await asyncio.gather(*(b.catalog.ListMerchantRewards(admin_pb2.ListMerchantRewardsRequest(
        parent=f"merchants/{m.partner_id}", page_size=100), **me.md) for m in merchants))
    shops = [Shop(m, [r for r in found.rewards if available_now(r, now)]) for m, found in zip(merchants, listed,
                                                                                              strict=True)]
    return Rewards(mine, [s for s in shops if s.rewards], list(redemptions.redemptions),
                   {p.partner_id: p.display_name for p in partners.partners})


# -- family, team, pairing, awards ----------------------------------------------------------------


@dataclass
class Circle:
    mine: MyVolunteer
    profile: volunteers_pb2.VolunteerProfile
    awards: list[awards_pb2.Award]

    def as_json(self) -> dict[str, Any]:
        p = self.profile
        return {**self.mine.as_json(),
                "family": {"family_id": p.family.family_id, "name": p.family.display_name,
                           "other_members": list(p.family_member_names)} if p.HasField("family") else None,
                "teams": [{"team_id": t.team.team_id, "name": t.team.display_name,
                           "join_date": t.membership.join_date} for t in p.teams],
                "pairings": [{"pairing_id": e.pairing.pairing_id, "elder_name": e.elder_display_name,
                              "start_date": e.pairing.start_date, "visits_required": e.pairing.visits_required}
                             for e in p.pairings],
                "awards": [{"year": a.year, "tier": TIERS.get(a.tier, ("", ""))[1], "rank": a.rank,
                            "points_earned": a.points_earned,
                            "certificate": certificate_path(self.mine, a.year)} for a in self.awards]}


def certificate_path(mine: MyVolunteer, year: int) -> str:
    return f"/me/awards/{year}/certificate.pdf?community={mine.community_path}"


async def my_awards(b: Backends, mine: MyVolunteer, this_year: int) -> list[awards_pb2.Award]:
    """The person's own awards of the last few closed years, newest first. The year's awards are
    announced in public, so the list is read with the portal's token, and only the volunteer's
    own are kept."""

    async def of(year: int) -> list[awards_pb2.Award]:
        found: list[awards_pb2.Award] = []
        token = ""
        while True:
            reply = await b.awards.ListAwards(awards_pb2.ListAwardsRequest(
                community_path=mine.community_path, year=year, page_size=1000, page_token=token))
            found.extend(a for a in reply.awards if a.volunteer_id == mine.volunteer_id)
            token = reply.next_page_token
            if not token:
                return found

    years = await asyncio.gather(*(of(this_year - n) for n in range(AWARD_YEARS)))
    return [a for found in years for a in found]


async def circle_of(b: Backends, me: Me, mine: MyVolunteer, this_year: int) -> Circle:
    reply, awards = await asyncio.gather(
        b.volunteers.GetVolunteerProfile(volunteers_pb2.GetVolunteerProfileRequest(
            community_path=mine.community_path, volunteer_id=mine.volunteer_id), **me.md),
        my_awards(b, mine, this_year))
    return Circle(mine, reply.profile, awards)


# Drawing a certificate the first time (HTML → PDF with the CJK font embedded, in a worker process
# of volunteer-points) takes seconds, more on a busy machine: beyond the channels' 5 s default.
CERTIFICATE_TIMEOUT = 60.0


async def certificate(b: Backends, me: Me, mine: MyVolunteer, year: int) -> awards_pb2.GetAwardCertificateResponse:
    reply: awards_pb2.GetAwardCertificateResponse = await b.awards.GetAwardCertificate(
        awards_pb2.GetAwardCertificateRequest(community_path=mine.community_path, year=year,
                                              volunteer_id=mine.volunteer_id), timeout=CERTIFICATE_TIMEOUT, **me.md)
    return reply

