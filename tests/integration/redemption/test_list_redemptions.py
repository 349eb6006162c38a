"""RedemptionAdminService.ListRedemptions: a community's redemptions for its staff — newest
first, by merchant and by state (PENDING while a redeem is between its hold and its commit),
paged (AIP-158) — refused for bad input, outside the caller's scope, to residents and to POS
terminals; a merchant the caller cannot see is NOT_FOUND as for none at all; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from linli_identity.testing import TestIssuer
from linli_redemption.app import RedemptionApp

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import CANTEEN, FENGSHU, HEALTH, Kit, Metadata, bearer

PENDING, COMMITTED, VOIDED = rpb.REDEMPTION_STATE_PENDING, rpb.REDEMPTION_STATE_COMMITTED, rpb.REDEMPTION_STATE_VOIDED


@pytest.fixture
def admin(kit: Kit, channel: grpc.aio.Channel) -> admin_pb2_grpc.RedemptionAdminServiceStub:
    return admin_pb2_grpc.RedemptionAdminServiceStub(channel)


async def listed(admin: Any, md: Metadata, **request: Any) -> list[rpb.Redemption]:
    found: list[rpb.Redemption] = []
    token = ""
    while True:
        page = await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(
            community_path=request.pop("community_path", FENGSHU), page_token=token, **request), metadata=md)
        found.extend(page.redemptions)
        token = page.next_page_token
        if not token:
            return found


async def redeem(kit: Kit, till: Metadata, reward: str, request_id: str, points: int = 50) -> None:
    """A new volunteer with `points` redeems one unit (a member code is good for one session)."""
    session = await kit.session(till, await kit.volunteer(points))
    await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1, request_id=request_id),
                         metadata=till)


async def test_staff_see_their_communitys_redemptions_newest_first_by_merchant_and_state(
        kit: Kit, admin: Any, clock: ManualClock, issuer: TestIssuer) -> None:
    health, canteen = await kit.terminal(HEALTH), await kit.terminal(CANTEEN)
    check, lunch = await kit.reward(points=10), await kit.reward(points=15, merchant=CANTEEN)
    dear = await kit.reward(points=500)
    await redeem(kit, health, check, "l-1")
    clock.advance(seconds=1)
    await redeem(kit, canteen, lunch, "l-2")
    clock.advance(seconds=1)
    with pytest.raises(grpc.aio.AioRpcError):  # not enough points: voided, nothing moved
        await redeem(kit, health, dear, "l-3")
    clock.advance(seconds=1)
    await redeem(kit, health, check, "l-4")

    everything = await listed(admin, kit.worker)
    assert [r.request_id for r in everything] == ["l-4", "l-3", "l-2", "l-1"]
    assert [r.state for r in everything] == [COMMITTED, VOIDED, COMMITTED, COMMITTED]
    assert everything[1].void_reason == "INSUFFICIENT_POINTS" and "*" in everything[0].masked_member
    assert [r.request_id for r in await listed(admin, kit.worker, merchant=f"merchants/{HEALTH}")] == [
        "l-4", "l-3", "l-1"]
    assert [r.request_id for r in await listed(admin, kit.worker, state=VOIDED)] == ["l-3"]
    assert [r.request_id for r in await listed(admin, kit.worker, merchant=f"merchants/{CANTEEN}",
                                               state=COMMITTED)] == ["l-2"]
    # Pages of one follow one another without gaps or repeats.
    assert [r.request_id for r in await listed(admin, kit.worker, page_size=1)] == ["l-4", "l-3", "l-2", "l-1"]
    party = bearer(issuer.issue("party-1", role="party_committee", scope=FENGSHU))
    assert len(await listed(admin, party)) == 4


async def test_a_volunteer_lists_only_their_own_redemptions(kit: Kit, admin: Any, clock: ManualClock,
                                                          issuer: TestIssuer) -> None:
    """Filtered by the volunteer bound to their account (volunteer-points' binding, not a token
    subject compared with a volunteer id); another volunteer's list is NOT_YOUR_REDEMPTIONS."""
    till = await kit.terminal()
    reward = await kit.reward(points=5)
    mine = await kit.volunteer(20, account_id="acc-mine")
    other = await kit.volunteer(20, name="李建国", account_id="acc-other")
    for volunteer_id, request_id in ((mine, "own-1"), (other, "other-1"), (mine, "own-2")):
        session = await kit.session(till, volunteer_id)
        await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1,
                                              request_id=request_id), metadata=till)
        clock.advance(seconds=61)  # the next member code
    me = bearer(issuer.issue("acc-mine", role="volunteer", scope=FENGSHU))
    assert [r.request_id for r in await listed(admin, me, volunteer_id=mine)] == ["own-2", "own-1"]
    assert [r.request_id for r in await listed(admin, kit.worker, volunteer_id=other)] == ["other-1"]
    named = bearer(issuer.issue(mine, role="volunteer", scope=FENGSHU))  # the local id as a subject
    for md, volunteer_id in ((me, other), (me, "v-nobody"), (named, mine)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(
                community_path=FENGSHU, volunteer_id=volunteer_id), metadata=md)
        assert (refused.value.code(), error_info(refused.value)[0]) == (
            grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_REDEMPTIONS")
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(
            community_path="chengdu/chongzhou/yangma/chongjianglu", volunteer_id=mine), metadata=me)
    assert elsewhere.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, volunteer_id="a b"),
                                    metadata=me)
    assert (malformed.value.code(), error_info(malformed.value)[1]) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                                        ["volunteer_id"])


async def test_a_redeem_between_hold_and_commit_is_listed_as_pending(kit: Kit, admin: Any,
                                                                     app: RedemptionApp) -> None:
    till = await kit.terminal()
    reward = await kit.reward(points=20)
    held, go_on = asyncio.Event(), asyncio.Event()

    async def wait_after_hold(row: Any) -> None:
        held.set()
        await go_on.wait()

    app.redemptions.after_hold = wait_after_hold
    call = asyncio.ensure_future(redeem(kit, till, reward, "p-1"))
    await asyncio.wait_for(held.wait(), 10)
    pending = await listed(admin, kit.worker, state=PENDING)
    assert [(r.request_id, r.points) for r in pending] == [("p-1", 20)]
    go_on.set()
    await call

    async def none_pending() -> bool:
        return not await listed(admin, kit.worker, state=PENDING)

    await wait_until(none_pending, what="the redeem to commit")
    assert [r.state for r in await listed(admin, kit.worker)] == [COMMITTED]


async def test_bad_input_is_invalid_argument_naming_the_field(kit: Kit, admin: Any) -> None:
    till = await kit.terminal()
    reward = await kit.reward(points=1)
    for n in range(3):
        await redeem(kit, till, reward, f"b-{n}")
    page = await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, page_size=1),
                                       metadata=kit.worker)
    await kit.partners.CreatePartner(admin_pb2.CreatePartnerRequest(partner_id="far-shop", partner=rpb.Partner(
        community_path="chengdu/chongzhou/yangma/chongjianglu", kind=rpb.PARTNER_KIND_MERCHANT,
        display_name="远方小店")), metadata=kit.service)
    cases = [
        (admin_pb2.ListRedemptionsRequest(), "community_path"),
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, state=9), "state"),  # type: ignore[arg-type]
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, merchant="rewards/x"), "merchant"),
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, merchant="merchants/far-shop"), "merchant"),
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, page_size=-1), "page_size"),
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, page_token="garbage"), "page_token"),
        # A token is bound to its list: another filter does not take it.
        (admin_pb2.ListRedemptionsRequest(community_path=FENGSHU, state=COMMITTED, page_token=page.next_page_token),
         "page_token"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.ListRedemptions(request, metadata=kit.service)
        assert (refused.value.code(), error_info(refused.value)[1]) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(
            community_path=FENGSHU, merchant="merchants/no-such-shop"), metadata=kit.worker)
    assert (unknown.value.code(), error_info(unknown.value)[0]) == (grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND")


async def test_other_communities_residents_and_pos_terminals_are_refused(kit: Kit, admin: Any,
                                                                         issuer: TestIssuer) -> None:
    till = await kit.terminal()
    await redeem(kit, till, await kit.reward(points=1), "s-1")
    refusals = [
        (bearer(issuer.issue("w", role="community_worker", scope="chengdu/chongzhou")), "OUT_OF_SCOPE"),
        (bearer(issuer.issue("r", role="resident", scope=FENGSHU)), "ROLE_NOT_ALLOWED"),
        (bearer(issuer.issue("v", role="volunteer", scope=FENGSHU)), "ROLE_NOT_ALLOWED"),
        (bearer(issuer.issue("m", role="merchant", scope=FENGSHU)), "ROLE_NOT_ALLOWED"),
        (till, "RESTRICTED_ROLE"),  # a POS terminal: it reaches the POS API alone
    ]
    for md, reason in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(community_path=FENGSHU), metadata=md)
        assert (refused.value.code(), error_info(refused.value)[0]) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(community_path=FENGSHU))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # A merchant of a community the caller cannot see is as unknown as one nobody registered
    # (issue 16, defect 11): the same NOT_FOUND, nothing naming the other community.
    elsewhere = "chengdu/chongzhou/yangma/chongjianglu"
    await kit.partners.CreatePartner(admin_pb2.CreatePartnerRequest(partner_id="far-shop", partner=rpb.Partner(
        community_path=elsewhere, kind=rpb.PARTNER_KIND_MERCHANT, display_name="远方小店")), metadata=kit.service)
    answers = []
    for merchant in ("far-shop", "no-such-shop"):
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await admin.ListRedemptions(admin_pb2.ListRedemptionsRequest(
                community_path=FENGSHU, merchant=f"merchants/{merchant}"), metadata=kit.worker)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert elsewhere not in f"{unknown.value.details()} {unknown.value.trailing_metadata()}"
        answers.append((unknown.value.details().replace(merchant, "M"), error_info(unknown.value)))
    assert answers[0] == answers[1]
